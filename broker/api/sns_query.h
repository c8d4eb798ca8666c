/* sns_query.h - the SNS query protocol as a codec around JSON objects, like
 * sqs_query.h for SQS: a form-encoded request becomes the operation's input
 * object and its output object becomes the XML response. Pure functions.
 * Guarded by SLUICE_SNS_QUERY_H. */
#ifndef SLUICE_SNS_QUERY_H
#define SLUICE_SNS_QUERY_H

#include "form.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SL_SNS_XMLNS "http://sns.amazonaws.com/doc/2010-03-31/"
#define SL_SNS_QUERY_INDEX_MAX 1000     /* largest N in X.member.N / X.entry.N */
#define SL_SNS_QUERY_DEPTH_MAX 8        /* dotted segments in one key */

/* Converts an SNS query request (Action and Version skipped) into an input
 * object. Keys are split at '.'; "member.N" makes a list and "entry.N" a map,
 * N from 1 to SL_SNS_QUERY_INDEX_MAX in any order, without gaps:
 *   Name=v                                   -> "Name": "v"
 *   Tags.member.N.Key/.Value                 -> "Tags": [{"Key","Value"}, ...]
 *   TagKeys.member.N                         -> "TagKeys": ["k", ...]
 *   Attributes.entry.N.key/.value            -> "Attributes": {key: value}
 *   MessageAttributes.entry.N.Name/.Value.*  -> "MessageAttributes": {Name: {"DataType",
 *                                               "StringValue"|"BinaryValue"}}
 *   PublishBatchRequestEntries.member.N.X    -> "PublishBatchRequestEntries": [{X...}]
 * Every scalar is a JSON string. Errors (SL_EPROTO with a one-line message in
 * err): a bad index, indexes of one list or map that do not run 1..n, a key
 * used both as a value and as a prefix, a map entry without its key or with a
 * key given twice, too many segments, invalid UTF-8, a NUL in a value. Returns SL_OK and a new
 * object in *out (caller decrefs), or SL_EPROTO and *out = NULL. */
int sl_sns_query_to_json(const sl_form_t *form, json_t **out, char *err, size_t errlen);

struct evbuffer;

/* Appends the XML response of op from its output object: NULL means an
 * output-less operation (<OpResponse> with ResponseMetadata only). Members are
 * elements; arrays become <Name><member>...</member></Name>; an object named
 * "Attributes" becomes <Attributes><entry><key/><value/></entry></Attributes>;
 * other objects nest. */
void sl_sns_xml_result(struct evbuffer *out, const char *op, const json_t *result,
                       const char *request_id);

/* Appends SNS's ErrorResponse (Type Sender or Receiver, Code, Message, RequestId).
 * Bytes of message that are not whole UTF-8 characters XML allows are written as
 * '?', so a message quoting bad input still makes well-formed XML. */
void sl_sns_xml_error(struct evbuffer *out, bool sender, const char *code, const char *message,
                      const char *request_id);

/* True when action is an SNS operation name (routes Version-less GET requests
 * such as a subscriber's ConfirmSubscription and Unsubscribe). */
int sl_sns_is_action(const char *action);

#endif

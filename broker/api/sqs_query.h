/* sqs_query.h - SQS query protocol (form-encoded requests, XML responses) as a codec
 * around the SQS JSON 1.0 protocol: every operation is implemented once against JSON
 * input and output objects, and these converters translate a query request into that
 * input and the JSON output back into the query protocol's XML. Pure functions, no I/O.
 * Guarded by SLUICE_SQS_QUERY_H. */
#ifndef SLUICE_SQS_QUERY_H
#define SLUICE_SQS_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "form.h"

#define SL_SQS_XMLNS "http://queue.amazonaws.com/doc/2012-11-05/"
#define SL_SQS_QUERY_INDEX_MAX 1000     /* largest N in Attribute.N.Name and the like */

/* Converts a parsed SQS query request into the JSON-protocol input object of its
 * operation. Action and Version are skipped. Indexed parameters (N, M from 1 to
 * SL_SQS_QUERY_INDEX_MAX, no leading zeros, any order, gaps allowed) become, in index
 * order:
 *   Attribute.N.Name/.Value                 -> "Attributes": {Name: Value}
 *   Tag.N.Key/.Value                        -> "tags": {Key: Value}
 *   TagKey.N, AttributeName.N, MessageAttributeName.N, MessageSystemAttributeName.N
 *                                           -> "TagKeys", "AttributeNames",
 *                                              "MessageAttributeNames",
 *                                              "MessageSystemAttributeNames": [..]
 *   MessageAttribute.N.Name, .Value.DataType|StringValue|BinaryValue
 *                                           -> "MessageAttributes":
 *                                              {Name: {"DataType", "StringValue"|..}}
 *   MessageSystemAttribute.N.*              -> "MessageSystemAttributes": same shape
 *   SendMessageBatchRequestEntry.N.<Field>  -> "Entries": [{Field: v}], where
 *       .MessageAttribute.M.* and .MessageSystemAttribute.M.* nest as above
 *   DeleteMessageBatchRequestEntry.N.<Field>,
 *   ChangeMessageVisibilityBatchRequestEntry.N.<Field> -> "Entries": [{Field: v}]
 * Any other key becomes a string member of that name. Every value is a JSON string,
 * numbers included (DelaySeconds, MaxNumberOfMessages, ...): the operations accept a
 * number or a decimal string.
 * Errors (SL_EPROTO, with a one-line human message in err, NUL-terminated, ASCII, for
 * an InvalidParameterValue style reply): a bad or out-of-range index, an unknown
 * sub-field (Attribute.1.Foo), Name without Value or Value without Name, a parameter
 * given twice (also two parameters landing on one member, e.g. two kinds of batch
 * entry), invalid UTF-8, a NUL in a name used as a JSON key.
 * Returns SL_OK and a new reference in *out (caller json_decref()s), or SL_EPROTO and
 * *out = NULL. 256 bytes of err hold any message (longer ones are cut); err may be NULL
 * when errlen is 0. */
int sl_sqs_query_to_json(const sl_form_t *form, json_t **out, char *err, size_t errlen);

struct evbuffer;

/* Appends the complete XML response of a successful op (the Action name, which must be
 * a plain alphanumeric XML name) built from its JSON-protocol output object:
 *   <?xml version="1.0"?>\n<OpResponse xmlns="SL_SQS_XMLNS"><OpResult>...</OpResult>
 *   <ResponseMetadata><RequestId>ID</RequestId></ResponseMetadata></OpResponse>
 * Output-less ops (DeleteMessage, ChangeMessageVisibility, SetQueueAttributes,
 * PurgeQueue, DeleteQueue, TagQueue, UntagQueue) with an empty or NULL result get no
 * OpResult element; other ops with nothing to say get <OpResult/>. Lists are flattened:
 *   "QueueUrls"/"queueUrls" [u]     -> <QueueUrl>u</QueueUrl>...
 *   "Messages" [m]                  -> <Message>...</Message>...
 *   "Attributes" {k: v}             -> <Attribute><Name>k</Name><Value>v</Value></Attribute>...
 *   "MessageAttributes" {n: {..}}   -> <MessageAttribute><Name>n</Name><Value>
 *                                      <StringValue>|<BinaryValue>, <DataType></Value>...
 *   "Tags" {k: v}                   -> <Tag><Key>k</Key><Value>v</Value></Tag>...
 *   "Successful" [e]                -> <OpResultEntry>...</OpResultEntry>...
 *   "Failed" [e]                    -> <BatchResultErrorEntry>...</BatchResultErrorEntry>...
 * Any other member: a scalar is <Member>text</Member> (booleans "true"/"false",
 * integers in decimal, null omitted), an array repeats the element under the member's
 * name, an object nests its members. Text is escaped with sl_xml_escape(). */
void sl_sqs_xml_result(struct evbuffer *out, const char *op, const json_t *result,
                       const char *request_id);

/* Appends the query-protocol error document:
 *   <?xml version="1.0"?>\n<ErrorResponse xmlns="XMLNS"><Error><Type>Sender|Receiver</Type>
 *   <Code>CODE</Code><Message>MSG</Message><Detail/></Error><RequestId>ID</RequestId>
 *   </ErrorResponse>
 * xmlns is SL_SQS_XMLNS for SQS (SNS passes its own). message and request_id may be
 * NULL (written empty); every string is escaped. */
void sl_sqs_xml_error(struct evbuffer *out, const char *xmlns, bool sender, const char *code,
                      const char *message, const char *request_id);

#endif

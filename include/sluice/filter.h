/* filter.h - the one filter matcher: SNS subscription filter policies and Lambda event
 * source mapping FilterCriteria patterns (the EventBridge pattern language).
 * A pattern is compiled once into a tree of matchers with its constants pre-parsed
 * (numbers as doubles, CIDRs as masks, ignore-case strings folded), so matching a message
 * walks the tree and the message's jansson value without parsing anything but the IP
 * address strings a `cidr` test has to read. A compiled filter is immutable: matching
 * may run on several threads at once. Guarded by SLUICE_FILTER_H. */
#ifndef SLUICE_FILTER_H
#define SLUICE_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define SL_FILTER_MAX_LEN (256 * 1024)  /* bytes of pattern text (SNS's policy limit) */
#define SL_FILTER_MAX_DEPTH 32          /* nested pattern objects, $or branches included */
#define SL_FILTER_MAX_WILDCARDS 5       /* '*' in one wildcard value (EventBridge's own
                                           complexity limit is undisclosed) */
#define SL_FILTER_SNS_MAX_KEYS 5        /* leaf keys in one $or-expanded SNS policy */
#define SL_FILTER_SNS_MAX_COMBINATIONS 150

typedef struct sl_filter sl_filter_t;

typedef enum {
    /* Lambda FilterCriteria / EventBridge pattern syntax: every operator, including
     * wildcard, anything-but {wildcard|equals-ignore-case} and prefix/suffix
     * {equals-ignore-case}; no key or combination limits. */
    SL_FILTER_LAMBDA,
    /* SNS filter policy, either scope. Refuses the operators SNS lacks (wildcard, the
     * ignore-case forms of prefix and suffix, anything-but wildcard/equals-ignore-case,
     * lists inside anything-but prefix/suffix) and enforces SNS's 5-key and
     * 150-combination limits. Nested keys are accepted, as FilterPolicyScope=MessageBody
     * needs them. */
    SL_FILTER_SNS,
    /* SL_FILTER_SNS for FilterPolicyScope=MessageAttributes: nested keys are refused too. */
    SL_FILTER_SNS_ATTRS,
} sl_filter_dialect_t;

/* Compiles the pattern json[0..len) (a JSON object) for dialect d.
 * Returns SL_OK and a new filter in *out (caller sl_filter_destroy()s), or SL_EPROTO with
 * *out = NULL when the text is not JSON, longer than SL_FILTER_MAX_LEN, nested deeper than
 * SL_FILTER_MAX_DEPTH or not a valid pattern of that dialect. When errlen > 0, err gets a
 * NUL-terminated message in AWS's words ("" on success), e.g. "Filter policy can not have
 * more than 5 keys"; the SNS layer puts "Invalid parameter: FilterPolicy: " before it.
 * The empty pattern {} compiles to a filter that matches everything. */
int sl_filter_compile(const char *json, size_t len, sl_filter_dialect_t d, sl_filter_t **out,
                      char *err, size_t errlen);

void sl_filter_destroy(sl_filter_t *f);                 /* NULL is a no-op */

/* Does event match f? event is borrowed and never changed, so one parsed message body
 * serves every filter it is tested against. For Lambda, event is the record
 * ({"body": ..., "attributes": ...}); for SNS attribute policies, an object mapping each
 * message attribute name to its value (String -> string, Number -> number,
 * String.Array -> the parsed array); for SNS payload policies, the parsed body.
 * A NULL or non-object event has no fields: only `exists: false` tests can match it.
 * A NULL f (no filter) matches every event. */
bool sl_filter_match(const sl_filter_t *f, const json_t *event);

#endif

/* form_fuzz.c - libFuzzer entry for the query-protocol request path: the form parser,
 * then, for bodies that parse, the SQS and the SNS query-to-JSON conversions (and the SNS
 * XML writer over what the latter made). Built as a fuzzer with
 * -DSLUICE_FUZZ=ON (clang); tests/fuzz/replay.c replays corpus/form/ through the same
 * entry point on every CI run. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "api/sns_query.h"
#include "api/sqs_query.h"
#include "form.h"
#include "sluice/error.h"
#include "sluice/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_form_t *form = NULL;     /* SQS/SNS query-protocol body */
    json_t *j = NULL;
    char err[256];
    int rc;

    if (sl_form_parse((const char *)data, size, SL_FORM_MAX_FIELDS, &form) != SL_OK) {
        sl_assert(form == NULL);
        return 0;
    }
    sl_assert(sl_form_count(form) <= SL_FORM_MAX_FIELDS);
    rc = sl_sqs_query_to_json(form, &j, err, sizeof(err));
    if (rc == SL_OK) {
        sl_assert(json_is_object(j));
    } else {
        sl_assert(rc == SL_EPROTO && j == NULL);
        sl_assert(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    }
    json_decref(j);
    j = NULL;
    rc = sl_sns_query_to_json(form, &j, err, sizeof(err));
    if (rc == SL_OK) {
        struct evbuffer *b = evbuffer_new();

        sl_assert(json_is_object(j));
        sl_sns_xml_result(b, "Fuzz", j, "rid");
        sl_assert(evbuffer_get_length(b) > 0);
        evbuffer_free(b);
    } else {
        sl_assert(rc == SL_EPROTO && j == NULL);
        sl_assert(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
    }
    json_decref(j);
    sl_form_destroy(form);
    return 0;
}

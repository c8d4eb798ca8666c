/* test_sns_query.c - the SNS query-protocol codec: request bodies captured from the aws
 * CLI, boto3 and SDK v3 (spec/vectors, copied here) must convert to the input objects the
 * SNS operations read; malformed keys must be refused with a message; outputs must come
 * out in SNS's XML shapes (member-wrapped lists, entry/key/value maps, an empty result
 * element only where the operation has one). Also the delivery policy's retry phases
 * and the ARN helper the SNS layer parses endpoints with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "../../triggers/sns_deliver.h"
#include "api/sns_query.h"
#include "form.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/topic.h"

static json_t *
convert(const char *body, int want_rc, char *err, size_t errlen)
{
    sl_form_t *form = NULL;
    json_t *out = NULL;

    assert_int_equal(sl_form_parse(body, strlen(body), SL_FORM_MAX_FIELDS, &form), SL_OK);
    assert_int_equal(sl_sns_query_to_json(form, &out, err, errlen), want_rc);
    sl_form_destroy(form);
    return out;
}

static void
assert_json(const json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, 0, NULL);

    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS);

        print_message("got  %s\nwant %s\n", g, want_text);
        free(g);
        fail();
    }
    json_decref(want);
}

static void
test_captured_requests(void **state)
{
    static const struct { const char *body, *json; } v[] = {
        /* awscli1-sns-PublishBatch */
        { "Action=PublishBatch&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A0000"
          "00000000%3At1&PublishBatchRequestEntries.member.1.Id=e1&PublishBatchRequestEntries.m"
          "ember.1.Message=m1&PublishBatchRequestEntries.member.2.Id=e2&PublishBatchRequestEntr"
          "ies.member.2.Message=m2&PublishBatchRequestEntries.member.2.Subject=s2&PublishBatchR"
          "equestEntries.member.2.MessageAttributes.entry.1.Name=k&PublishBatchRequestEntries.m"
          "ember.2.MessageAttributes.entry.1.Value.DataType=String&PublishBatchRequestEntries.m"
          "ember.2.MessageAttributes.entry.1.Value.StringValue=v",
          "{\"TopicArn\":\"arn:aws:sns:us-east-1:000000000000:t1\",\"PublishBatchRequestEntries\""
          ":[{\"Id\":\"e1\",\"Message\":\"m1\"},{\"Id\":\"e2\",\"Message\":\"m2\",\"Subject\":\"s2\","
          "\"MessageAttributes\":{\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}]}" },
        /* sdkjs3-sns-Subscribe-sqs */
        { "Action=Subscribe&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A00000000"
          "0000%3At1&Protocol=sqs&Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq1&Attr"
          "ibutes.entry.1.key=FilterPolicy&Attributes.entry.1.value=%7B%22color%22%3A%5B%22blue"
          "%22%5D%7D&Attributes.entry.2.key=RawMessageDelivery&Attributes.entry.2.value=true&Re"
          "turnSubscriptionArn=true",
          "{\"TopicArn\":\"arn:aws:sns:us-east-1:000000000000:t1\",\"Protocol\":\"sqs\",\"Endpoint"
          "\":\"arn:aws:sqs:us-east-1:000000000000:q1\",\"Attributes\":{\"FilterPolicy\":"
          "\"{\\\"color\\\":[\\\"blue\\\"]}\",\"RawMessageDelivery\":\"true\"},"
          "\"ReturnSubscriptionArn\":\"true\"}" },
        /* awscli2-sns-CreateTopic-tags */
        { "Action=CreateTopic&Version=2010-03-31&Name=t1&Tags.member.1.Key=env&Tags.member.1.Va"
          "lue=dev",
          "{\"Name\":\"t1\",\"Tags\":[{\"Key\":\"env\",\"Value\":\"dev\"}]}" },
        /* boto3-126-sns-Publish-specialchars */
        { "Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A00000000000"
          "0%3At1&Message=h%C3%A9llo+w%C3%B6rld+%26+%3D+%2B+~%2A%27%28%29%21+%F0%9F%98%80+a%2F"
          "b%3Fc%23d%25",
          "{\"TopicArn\":\"arn:aws:sns:us-east-1:000000000000:t1\",\"Message\":"
          "\"h\\u00e9llo w\\u00f6rld & = + ~*'()! \\ud83d\\ude00 a/b?c#d%\"}" },
        /* UntagResource (model shape) */
        { "Action=UntagResource&Version=2010-03-31&ResourceArn=a&TagKeys.member.2=y&TagKeys.mem"
          "ber.1=x",
          "{\"ResourceArn\":\"a\",\"TagKeys\":[\"x\",\"y\"]}" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char err[256];
        json_t *j = convert(v[i].body, SL_OK, err, sizeof(err));

        assert_json(j, v[i].json);
        json_decref(j);
    }
}

static void
test_malformed_refused(void **state)
{
    static const char *const bad[] = {
        "Tags.member.0.Key=a",                      /* index from 1 */
        "Tags.member.01.Key=a",                     /* no leading zeros */
        "Tags.member.1001.Key=a",                   /* above the cap */
        "Tags.member.x.Key=a",
        "Name=a&Name=b",                            /* twice */
        "Name=a&Name.x=b",                          /* value and prefix */
        "Attributes.entry.1.value=v",               /* a map entry without its key */
        "A.member.1=x&A.entry.1.key=k&A.entry.1.value=v",   /* list and map at once */
        "a.b.c.d.e.f.g.h.i=1",                      /* too deep */
        "Message=%FF",                              /* not UTF-8 */
        "Tags.member.1.Key=a&Tags.member.3.Key=b",  /* a gap */
        "Tags.member.2.Key=a",                      /* not from 1 */
        "A.entry.1.key=k&A.entry.1.value=1&A.entry.2.key=k&A.entry.2.value=2",  /* key twice */
        "TopicArn=arn:aws:sns:r:1:t%00x",           /* a NUL would cut it short */
        "%FF=1",                                    /* a name that is not UTF-8 */
        "%FF.x=1&%FE.a.b=2",                        /* ...as a prefix */
        "Attributes.entry.1.%C0=1&Attributes.entry.1.key=k",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        json_t *j = convert(bad[i], SL_EPROTO, err, sizeof(err));

        assert_null(j);
        if (err[0] == '\0')
            fail_msg("no message for %s", bad[i]);
    }
}

static char *
xml_of(const char *op, const char *json)
{
    struct evbuffer *b = evbuffer_new();
    json_t *j = json ? json_loads(json, 0, NULL) : NULL;
    size_t n;
    char *s;

    sl_sns_xml_result(b, op, j, "rid");
    n = evbuffer_get_length(b);
    s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    json_decref(j);
    return s;
}

static void
test_xml_shapes(void **state)
{
    char *x;

    (void)state;
    x = xml_of("ListTopics", "{\"Topics\":[{\"TopicArn\":\"a<b\"}],\"NextToken\":\"100\"}");
    assert_string_equal(x, "<?xml version=\"1.0\"?>\n<ListTopicsResponse xmlns=\""
                        SL_SNS_XMLNS "\"><ListTopicsResult><Topics><member><TopicArn>a&lt;b"
                        "</TopicArn></member></Topics><NextToken>100</NextToken>"
                        "</ListTopicsResult><ResponseMetadata><RequestId>rid</RequestId>"
                        "</ResponseMetadata></ListTopicsResponse>");
    free(x);
    x = xml_of("GetTopicAttributes", "{\"Attributes\":{\"k\":\"v\\r\"}}");
    assert_non_null(strstr(x, "<Attributes><entry><key>k</key><value>v&#xD;</value></entry>"
                              "</Attributes>"));
    free(x);
    x = xml_of("Unsubscribe", NULL);
    assert_null(strstr(x, "UnsubscribeResult"));
    assert_non_null(strstr(x, "<UnsubscribeResponse"));
    free(x);
    x = xml_of("TagResource", "{}");
    assert_non_null(strstr(x, "<TagResourceResult></TagResourceResult>"));
    free(x);
    x = xml_of("PublishBatch", "{\"Successful\":[],\"Failed\":[{\"Id\":\"a\",\"SenderFault\":"
                               "true}]}");
    assert_non_null(strstr(x, "<Successful></Successful><Failed><member><Id>a</Id>"
                              "<SenderFault>true</SenderFault></member></Failed>"));
    free(x);
}

static void
test_error_xml_is_well_formed(void **state)
{
    struct evbuffer *b = evbuffer_new();
    char s[512];
    size_t n;

    (void)state;
    /* A control byte, a lone continuation byte, a surrogate in UTF-8 form, a
     * character cut short: each becomes '?'; whole characters stay. */
    sl_sns_xml_error(b, true, "InvalidAction", "a\x01" "b\x80" "c\xed\xa0\x80" "d\xe2\x82"
                     " \xc3\xa9<", "r");
    n = evbuffer_get_length(b);
    assert_true(n < sizeof(s));
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    assert_string_equal(s, "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"" SL_SNS_XMLNS
                        "\"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>"
                        "a?b?c???d?? \xc3\xa9&lt;</Message><Detail/></Error><RequestId>r"
                        "</RequestId></ErrorResponse>");
}

static void
test_action_names(void **state)
{
    (void)state;
    assert_true(sl_sns_is_action("ConfirmSubscription"));
    assert_true(sl_sns_is_action("Unsubscribe"));
    assert_false(sl_sns_is_action("SendMessage"));
    assert_false(sl_sns_is_action("confirmsubscription"));
}

static sl_sub_spec_t
http_sub(const char *policy)
{
    sl_sub_spec_t s;

    sl_sub_spec_init(&s);
    s.proto = SL_SUB_HTTP;
    if (policy)
        sl_kvlist_set(&s.attrs, "DeliveryPolicy", policy);
    return s;
}

static void
test_retry_phases(void **state)
{
    sl_sub_spec_t s = http_sub(NULL);
    /* 2 immediate, 1 at min (1 s), 3 backing off from 1 to 8 s (1, 2.83, 8), 2 at max. */
    static const int64_t expo[] = { 0, 0, 1000, 1000, 2828, 8000, 8000, 8000, -1 };

    (void)state;
    /* The default: 3 retries, 20 s apart, then give up. */
    assert_int_equal(sl__sns_retry_delay(&s, 1, 1000), 20000);
    assert_int_equal(sl__sns_retry_delay(&s, 3, 1000), 20000);
    assert_int_equal(sl__sns_retry_delay(&s, 4, 1000), -1);
    sl_sub_spec_deinit(&s);
    s = http_sub("{\"healthyRetryPolicy\":{\"numRetries\":8,\"numNoDelayRetries\":2,"
                 "\"numMinDelayRetries\":1,\"numMaxDelayRetries\":2,\"minDelayTarget\":1,"
                 "\"maxDelayTarget\":8,\"backoffFunction\":\"exponential\"}}");
    for (uint32_t a = 1; a <= 9; a++)
        assert_int_equal(sl__sns_retry_delay(&s, a, 1000), expo[a - 1]);
    sl_sub_spec_deinit(&s);
    /* Linear backoff between 2 and 10 s over 5 retries: 2, 4, 6, 8, 10. */
    s = http_sub("{\"healthyRetryPolicy\":{\"numRetries\":5,\"minDelayTarget\":2,"
                 "\"maxDelayTarget\":10,\"backoffFunction\":\"linear\"}}");
    for (uint32_t a = 1; a <= 5; a++)
        assert_int_equal(sl__sns_retry_delay(&s, a, 1000), 2000 * (int64_t)a);
    assert_int_equal(sl__sns_retry_delay(&s, 6, 1000), -1);
    sl_sub_spec_deinit(&s);
    /* Lambda: two retries, doubling from the base. */
    sl_sub_spec_init(&s);
    s.proto = SL_SUB_LAMBDA;
    assert_int_equal(sl__sns_retry_delay(&s, 1, 500), 500);
    assert_int_equal(sl__sns_retry_delay(&s, 2, 500), 1000);
    assert_int_equal(sl__sns_retry_delay(&s, 3, 500), -1);
    sl_sub_spec_deinit(&s);
}

static void
test_delivery_policy_validation(void **state)
{
    char err[200];

    (void)state;
    assert_true(sl__sns_delivery_policy_is_valid("{\"healthyRetryPolicy\":{\"numRetries\":3}}",
                                                 false, err, sizeof(err)));
    assert_false(sl__sns_delivery_policy_is_valid("{\"healthyRetryPolicy\":{\"numRetries\":1,"
                                                  "\"numNoDelayRetries\":2}}", false, err,
                                                  sizeof(err)));
    assert_non_null(strstr(err, "numRetries"));
    assert_false(sl__sns_delivery_policy_is_valid("{\"healthyRetryPolicy\":{\"minDelayTarget\":"
                                                  "9,\"maxDelayTarget\":3}}", false, err,
                                                  sizeof(err)));
    assert_false(sl__sns_delivery_policy_is_valid("[1]", false, err, sizeof(err)));
    assert_true(sl__sns_delivery_policy_is_valid("{\"http\":{\"defaultHealthyRetryPolicy\":"
                                                 "{\"backoffFunction\":\"geometric\"}}}", true,
                                                 err, sizeof(err)));
    assert_false(sl__sns_delivery_policy_is_valid("{\"http\":{\"defaultHealthyRetryPolicy\":"
                                                  "{\"backoffFunction\":\"cubic\"}}}", true,
                                                  err, sizeof(err)));
}

static void
test_arns_and_names(void **state)
{
    char buf[80];

    (void)state;
    assert_string_equal(sl_arn_resource("arn:aws:sqs:us-east-1:000000000000:q1", "sqs", NULL, 0),
                        "q1");
    assert_null(sl_arn_resource("arn:aws:sns:us-east-1:000000000000:q1", "sqs", NULL, 0));
    assert_null(sl_arn_resource("arn:aws:sqs:us-east-1:q1", "sqs", NULL, 0));
    assert_null(sl_arn_resource("q1", "sqs", NULL, 0));
    assert_string_equal(sl_arn_resource("arn:aws:lambda:us-east-1:000000000000:function:f:prod",
                                        "lambda", buf, sizeof(buf)), "f");
    assert_null(sl_arn_resource("arn:aws:lambda:us-east-1:000000000000:layer:f", "lambda", buf,
                                sizeof(buf)));
    assert_true(sl_topic_name_is_valid("orders"));
    assert_true(sl_topic_name_is_valid("orders.fifo"));
    assert_false(sl_topic_name_is_valid("bad name"));
    assert_false(sl_topic_name_is_valid(".fifo"));
    assert_false(sl_topic_name_is_valid(""));
}

static void
test_sub_spec_round_trip(void **state)
{
    sl_sub_spec_t s, back;
    json_t *doc;

    (void)state;
    sl_sub_spec_init(&s);
    s.id = sl_strdup("id1");
    s.topic = sl_strdup("t");
    s.endpoint = sl_strdup("http://x/");
    s.proto = SL_SUB_HTTP;
    s.token = sl_strdup("tok");
    s.created_ms = 1234;
    sl_kvlist_set(&s.attrs, "RawMessageDelivery", "true");
    doc = sl_sub_spec_to_json(&s);
    assert_int_equal(sl_sub_spec_from_json(&back, doc), SL_OK);
    assert_string_equal(back.endpoint, "http://x/");
    assert_string_equal(back.token, "tok");
    assert_int_equal(back.proto, SL_SUB_HTTP);
    assert_false(back.confirmed);
    assert_int_equal(back.created_ms, 1234);
    assert_string_equal(sl_kvlist_get(&back.attrs, "RawMessageDelivery"), "true");
    json_object_set_new(doc, "protocol", json_string("email"));
    sl_sub_spec_deinit(&back);
    assert_int_equal(sl_sub_spec_from_json(&back, doc), SL_EPROTO);
    sl_sub_spec_deinit(&back);
    json_decref(doc);
    sl_sub_spec_deinit(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captured_requests),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_xml_shapes),
        cmocka_unit_test(test_error_xml_is_well_formed),
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_retry_phases),
        cmocka_unit_test(test_delivery_policy_validation),
        cmocka_unit_test(test_arns_and_names),
        cmocka_unit_test(test_sub_spec_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

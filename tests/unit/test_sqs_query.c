/* test_sqs_query.c - the SQS query-protocol codec: captured query requests must convert
 * to the JSON-protocol input that JSON clients sent for the same operation, malformed
 * parameters must be refused with a message, and JSON outputs must come out as the XML
 * that query clients accepted (responses captured in spec/vectors/responses).
 * The request bodies are also kept, byte for byte, in tests/unit/data/. */
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

#include "api/sqs_query.h"
#include "form.h"
#include "sluice/error.h"
#include "xmlw.h"

struct vector {
    const char *query_name;     /* client-service-Op of the query-protocol capture */
    const char *json_name;      /* the JSON-protocol capture it must match */
    const char *form;
    const char *json;
};

static const struct vector vectors[] = {
    {
        "awscli2-sqs-SendMessageBatch", "sdkjs3-sqs-SendMessageBatch",
        "Action=SendMessageBatch&Version=2012-11-05"
        "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1"
        "&SendMessageBatchRequestEntry.1.Id=m1&SendMessageBatchRequestEntry.1.MessageBody=one"
        "&SendMessageBatchRequestEntry.2.Id=m2&SendMessageBatchRequestEntry.2.MessageBody=two"
        "&SendMessageBatchRequestEntry.2.DelaySeconds=3"
        "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Name=k"
        "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType=String"
        "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue=v",
        "{\"QueueUrl\":\"http://127.0.0.1:4599/000000000000/q1\",\"Entries\":[{\"Id\":\"m1\","
        "\"MessageBody\":\"one\"},{\"Id\":\"m2\",\"MessageBody\":\"two\",\"DelaySeconds\":3,"
        "\"MessageAttributes\":{\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}]}",
    },
    {
        "awscli2-sqs-SendMessage", "sdkjs3-sqs-SendMessage",
        "Action=SendMessage&Version=2012-11-05"
        "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1&MessageBody=hello+world"
        "&DelaySeconds=5&MessageAttribute.1.Name=color"
        "&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=blue"
        "&MessageAttribute.2.Name=size&MessageAttribute.2.Value.DataType=Number"
        "&MessageAttribute.2.Value.StringValue=42&MessageAttribute.3.Name=blob"
        "&MessageAttribute.3.Value.DataType=Binary&MessageAttribute.3.Value.BinaryValue=AAEC",
        "{\"QueueUrl\":\"http://127.0.0.1:4599/000000000000/q1\","
        "\"MessageBody\":\"hello world\",\"DelaySeconds\":5,"
        "\"MessageAttributes\":{\"color\":{\"DataType\":\"String\",\"StringValue\":\"blue\"},"
        "\"size\":{\"DataType\":\"Number\",\"StringValue\":\"42\"},"
        "\"blob\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAEC\"}}}",
    },
    {
        "awscli2-sqs-CreateQueue-redrive", "awscli1-sqs-CreateQueue-redrive",
        "Action=CreateQueue&Version=2012-11-05&QueueName=q2&Attribute.1.Name=RedrivePolicy"
        "&Attribute.1.Value=%7B%22deadLetterTargetArn%22%3A%22arn%3Aaws%3Asqs%3Aus-east-1%3A"
        "000000000000%3Adlq%22%2C%22maxReceiveCount%22%3A%223%22%7D"
        "&Attribute.2.Name=MessageRetentionPeriod&Attribute.2.Value=86400&Tag.1.Key=env"
        "&Tag.1.Value=dev",
        "{\"QueueName\": \"q2\","
        " \"Attributes\": {\"RedrivePolicy\": \"{\\\"deadLetterTargetArn\\\":"
        "\\\"arn:aws:sqs:us-east-1:000000000000:dlq\\\","
        "\\\"maxReceiveCount\\\":\\\"3\\\"}\", \"MessageRetentionPeriod\": \"86400\"},"
        " \"tags\": {\"env\": \"dev\"}}",
    },
    {
        "awscli2-sqs-ReceiveMessage", "sdkjs3-sqs-ReceiveMessage",
        "Action=ReceiveMessage&Version=2012-11-05"
        "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1&AttributeName.1=All"
        "&MessageAttributeName.1=All&MaxNumberOfMessages=10&VisibilityTimeout=30"
        "&WaitTimeSeconds=20",
        "{\"QueueUrl\":\"http://127.0.0.1:4599/000000000000/q1\",\"AttributeNames\":[\"All\"],"
        "\"MessageAttributeNames\":[\"All\"],\"MaxNumberOfMessages\":10,"
        "\"VisibilityTimeout\":30,\"WaitTimeSeconds\":20}",
    },
    {
        "awscli2-sqs-ChangeMessageVisibilityBatch", "awscli1-sqs-ChangeMessageVisibilityBatch",
        "Action=ChangeMessageVisibilityBatch&Version=2012-11-05"
        "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1"
        "&ChangeMessageVisibilityBatchRequestEntry.1.Id=a"
        "&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=rh-1"
        "&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=10",
        "{\"QueueUrl\": \"http://127.0.0.1:4599/000000000000/q1\","
        " \"Entries\": [{\"Id\": \"a\", \"ReceiptHandle\": \"rh-1\","
        " \"VisibilityTimeout\": 10}]}",
    },
    {
        "boto3-126-sqs-DeleteMessageBatch", "sdkjs3-sqs-DeleteMessageBatch",
        "Action=DeleteMessageBatch&Version=2012-11-05"
        "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1"
        "&DeleteMessageBatchRequestEntry.1.Id=a"
        "&DeleteMessageBatchRequestEntry.1.ReceiptHandle=rh-1"
        "&DeleteMessageBatchRequestEntry.2.Id=b"
        "&DeleteMessageBatchRequestEntry.2.ReceiptHandle=rh-2",
        "{\"QueueUrl\":\"http://127.0.0.1:4599/000000000000/q1\",\"Entries\":[{\"Id\":\"a\","
        "\"ReceiptHandle\":\"rh-1\"},{\"Id\":\"b\",\"ReceiptHandle\":\"rh-2\"}]}",
    },
    {
        "awscli2-sqs-SendMessage-systemattr", "sdkjs3-sqs-SendMessage-systemattr",
        "Action=SendMessage&Version=2012-11-05"
        "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1&MessageBody=b"
        "&MessageSystemAttribute.1.Name=AWSTraceHeader"
        "&MessageSystemAttribute.1.Value.DataType=String"
        "&MessageSystemAttribute.1.Value.StringValue=Root%3D1-5759e988-bd862e3fe1be46a994272793",
        "{\"QueueUrl\":\"http://127.0.0.1:4599/000000000000/q1\",\"MessageBody\":\"b\","
        "\"MessageSystemAttributes\":{\"AWSTraceHeader\":{\"DataType\":\"String\","
        "\"StringValue\":\"Root=1-5759e988-bd862e3fe1be46a994272793\"}}}",
    },
    {
        "awscli2-sqs-SendMessage-specialchars", "sdkjs3-sqs-SendMessage-specialchars",
        "Action=SendMessage&Version=2012-11-05"
        "&QueueUrl=http%3A%2F%2F127.0.0.1%3A4599%2F000000000000%2Fq1"
        "&MessageBody=h%C3%A9llo+w%C3%B6rld+%26+%3D+%2B+~%2A%27%28%29%21+%F0%9F%98%80"
        "+a%2Fb%3Fc%23d%25",
        "{\"QueueUrl\":\"http://127.0.0.1:4599/000000000000/q1\","
        "\"MessageBody\":\"héllo wörld & = + ~*'()! 😀 a/b?c#d%\"}",
    },
};

#define XML_DECL "<?xml version=\"1.0\"?>\n"
#define XMLNS "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\""

/* ---- Helpers ---- */

static int
convert(const char *body, json_t **out, char *err, size_t errlen)
{
    sl_form_t *f = NULL;
    int rc;

    assert_int_equal(sl_form_parse(body, strlen(body), SL_FORM_MAX_FIELDS, &f), SL_OK);
    rc = sl_sqs_query_to_json(f, out, err, errlen);
    sl_form_destroy(f);
    return rc;
}

static json_t *
must_convert(const char *body)
{
    char err[256] = "unset";
    json_t *j = NULL;

    if (convert(body, &j, err, sizeof(err)) != SL_OK)
        fail_msg("conversion of \"%s\" failed: %s", body, err);
    assert_non_null(j);
    assert_string_equal(err, "");
    return j;
}

/* Copy of v with every integer turned into its decimal string, as query clients send. */
static json_t *
ints_to_strings(json_t *v)
{
    json_t *c, *item;
    const char *k;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_INTEGER: {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(buf);
    }
    case JSON_ARRAY:
        c = json_array();
        json_array_foreach(v, i, item)
            json_array_append_new(c, ints_to_strings(item));
        return c;
    case JSON_OBJECT:
        c = json_object();
        json_object_foreach(v, k, item)
            json_object_set_new(c, k, ints_to_strings(item));
        return c;
    default:
        return json_incref(v);
    }
}

static void
assert_same_json(json_t *got, json_t *want, const char *what)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);

        print_error("%s:\n got  %s\n want %s\n", what, g, w);
        free(g);
        free(w);
        fail();
    }
}

static void
assert_same_as(const char *body, const char *json_text)
{
    json_error_t jerr;
    json_t *want = json_loads(json_text, 0, &jerr), *got = must_convert(body);

    assert_non_null(want);
    assert_same_json(got, want, body);
    json_decref(want);
    json_decref(got);
}

static void
assert_refused(const char *body, const char *needle)
{
    char err[256];
    json_t *j = (json_t *)1;
    int rc;

    memset(err, 'x', sizeof(err));
    rc = convert(body, &j, err, sizeof(err));
    if (rc != SL_EPROTO) {
        char *d = rc == SL_OK ? json_dumps(j, JSON_SORT_KEYS) : NULL;

        print_error("accepted \"%s\" as %s\n", body, d != NULL ? d : "?");
        free(d);
        fail();
    }
    assert_null(j);
    assert_non_null(memchr(err, '\0', sizeof(err)));
    assert_true(strlen(err) > 10);
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("message for \"%s\" is \"%s\", expected it to mention \"%s\"", body, err,
                 needle);
}

/* Output of one writer call as a NUL-terminated string; caller frees. */
static char *
drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);

    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static char *
result_xml(const char *op, const char *json_text, const char *request_id)
{
    struct evbuffer *b = evbuffer_new();
    json_error_t jerr;
    json_t *j = json_text != NULL ? json_loads(json_text, 0, &jerr) : NULL;

    if (json_text != NULL && j == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    sl_sqs_xml_result(b, op, j, request_id);
    json_decref(j);
    return drain(b);
}

static void
assert_result_xml(const char *op, const char *json_text, const char *want)
{
    char *got = result_xml(op, json_text, "req-1");

    assert_string_equal(got, want);
    free(got);
}

static char *
escaped(const char *s, size_t len)
{
    struct evbuffer *b = evbuffer_new();

    sl_xml_escape(b, s, len);
    return drain(b);
}

/* ---- Query to JSON ---- */

static void
test_captured_vectors(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vector *v = &vectors[i];
        json_error_t jerr;
        json_t *raw = json_loads(v->json, 0, &jerr), *want, *got;
        char what[160];

        if (raw == NULL)
            fail_msg("%s: %s", v->json_name, jerr.text);
        want = ints_to_strings(raw);
        got = must_convert(v->form);
        snprintf(what, sizeof(what), "%s vs %s", v->query_name, v->json_name);
        assert_same_json(got, want, what);
        json_decref(got);
        json_decref(want);
        json_decref(raw);
    }
}

static void
test_values_stay_strings(void **state)
{
    json_t *j = must_convert(vectors[3].form);     /* ReceiveMessage */

    (void)state;
    assert_true(json_is_string(json_object_get(j, "MaxNumberOfMessages")));
    assert_string_equal(json_string_value(json_object_get(j, "WaitTimeSeconds")), "20");
    assert_null(json_object_get(j, "Action"));
    assert_null(json_object_get(j, "Version"));
    json_decref(j);

    j = must_convert("MessageBody=a%00b&Empty=&Foo.1.Bar=x");
    assert_int_equal(json_string_length(json_object_get(j, "MessageBody")), 3);
    assert_memory_equal(json_string_value(json_object_get(j, "MessageBody")), "a\0b", 3);
    assert_string_equal(json_string_value(json_object_get(j, "Empty")), "");
    assert_string_equal(json_string_value(json_object_get(j, "Foo.1.Bar")), "x");
    json_decref(j);

    j = must_convert("");
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
}

static void
test_index_order_and_gaps(void **state)
{
    (void)state;
    /* sorted by number, not by string: 10 after 2 */
    assert_same_as("AttributeName.10=c&AttributeName.2=b&AttributeName.1=a",
                   "{\"AttributeNames\":[\"a\",\"b\",\"c\"]}");
    assert_same_as("MessageAttributeName.7=x&MessageAttributeName.3=w"
                   "&MessageSystemAttributeName.1000=z&TagKey.5=k",
                   "{\"MessageAttributeNames\":[\"w\",\"x\"],"
                   "\"MessageSystemAttributeNames\":[\"z\"],\"TagKeys\":[\"k\"]}");
    assert_same_as("Attribute.3.Value=30&Attribute.1.Name=A&Attribute.3.Name=C"
                   "&Attribute.1.Value=10&Tag.9.Value=v&Tag.9.Key=k",
                   "{\"Attributes\":{\"A\":\"10\",\"C\":\"30\"},\"tags\":{\"k\":\"v\"}}");
    assert_same_as("DeleteMessageBatchRequestEntry.12.Id=b"
                   "&DeleteMessageBatchRequestEntry.3.ReceiptHandle=r1"
                   "&DeleteMessageBatchRequestEntry.3.Id=a"
                   "&DeleteMessageBatchRequestEntry.12.ReceiptHandle=r2",
                   "{\"Entries\":[{\"Id\":\"a\",\"ReceiptHandle\":\"r1\"},"
                   "{\"Id\":\"b\",\"ReceiptHandle\":\"r2\"}]}");
}

static void
test_batch_entry_attributes(void **state)
{
    (void)state;
    assert_same_as("SendMessageBatchRequestEntry.2.MessageAttribute.2.Value.BinaryValue=AAEC"
                   "&SendMessageBatchRequestEntry.1.Id=one"
                   "&SendMessageBatchRequestEntry.2.MessageSystemAttribute.1.Name=AWSTraceHeader"
                   "&SendMessageBatchRequestEntry.2.MessageAttribute.2.Name=b"
                   "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Name=a"
                   "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType=Number"
                   "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue=1"
                   "&SendMessageBatchRequestEntry.2.MessageAttribute.2.Value.DataType=Binary"
                   "&SendMessageBatchRequestEntry.2.MessageSystemAttribute.1.Value.DataType=String"
                   "&SendMessageBatchRequestEntry.2.MessageSystemAttribute.1.Value.StringValue=R"
                   "&SendMessageBatchRequestEntry.2.Id=two"
                   "&SendMessageBatchRequestEntry.2.MessageGroupId=g"
                   "&SendMessageBatchRequestEntry.2.MessageDeduplicationId=d",
                   "{\"Entries\":[{\"Id\":\"one\"},{\"Id\":\"two\",\"MessageGroupId\":\"g\","
                   "\"MessageDeduplicationId\":\"d\",\"MessageAttributes\":{"
                   "\"a\":{\"DataType\":\"Number\",\"StringValue\":\"1\"},"
                   "\"b\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAEC\"}},"
                   "\"MessageSystemAttributes\":{\"AWSTraceHeader\":"
                   "{\"DataType\":\"String\",\"StringValue\":\"R\"}}}]}");
    /* a Name alone is passed on; the operation reports the missing DataType */
    assert_same_as("MessageAttribute.1.Name=n", "{\"MessageAttributes\":{\"n\":{}}}");
}

static void
test_malformed_refused(void **state)
{
    (void)state;
    assert_refused("Attribute.x.Name=a&Attribute.x.Value=b", "Attribute.x.Name");
    assert_refused("Attribute.0.Name=a&Attribute.0.Value=b", "Attribute.0.Name");
    assert_refused("Attribute.01.Name=a&Attribute.01.Value=b", NULL);
    assert_refused("Attribute.1001.Name=a&Attribute.1001.Value=b", "1000");
    assert_refused("Attribute.99999999999999999999.Name=a", NULL);
    assert_refused("Attribute.-1.Name=a", NULL);
    assert_refused("Attribute..Name=a", NULL);
    assert_refused("Attribute.1=a", NULL);
    assert_refused("Attribute.1.Name=a", "Attribute.1.Value");
    assert_refused("Attribute.2.Value=a", "Attribute.2.Name");
    assert_refused("Attribute.1.Foo=a", "Attribute.1.Foo");
    assert_refused("Attribute.1.Name=a&Attribute.1.Value=b&Attribute.2.Name=a"
                   "&Attribute.2.Value=c", "Attribute.2.Name");
    assert_refused("Tag.1.Name=a&Tag.1.Value=b", "Tag.1.Name");
    assert_refused("Tag.1.Key=a", "Tag.1.Value");
    assert_refused("TagKey.1.x=a", NULL);
    assert_refused("TagKey.=a", NULL);
    assert_refused("AttributeName.1=a&AttributeName.1=b", "AttributeName.1");
    assert_refused("MessageAttribute.1.Value.DataType=String", "MessageAttribute.1.Name");
    assert_refused("MessageAttribute.1.Name=a&MessageAttribute.1.Value.Foo=x", NULL);
    assert_refused("MessageAttribute.1.Name=a&MessageAttribute.1.Value=x", NULL);
    assert_refused("MessageAttribute.1.Name=a&MessageAttribute.1.Value.StringListValue.1=x",
                   NULL);
    assert_refused("MessageSystemAttribute.1=x", NULL);
    assert_refused("MessageAttribute.1.Name=a%00b&MessageAttribute.1.Value.DataType=String",
                   "NUL");
    assert_refused("SendMessageBatchRequestEntry.1=x", NULL);
    assert_refused("SendMessageBatchRequestEntry.1.=x", NULL);
    assert_refused("SendMessageBatchRequestEntry.1.Foo.Bar=x", NULL);
    assert_refused("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=S",
                   "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name");
    assert_refused("SendMessageBatchRequestEntry.1.MessageAttribute.0.Name=a", NULL);
    assert_refused("SendMessageBatchRequestEntry.1.MessageAttribute=a"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=a", NULL);
    assert_refused("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=a"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute=a", NULL);
    assert_refused("SendMessageBatchRequestEntry.1.MessageAttributes=a"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=a", NULL);
    assert_refused("SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.Id=b",
                   NULL);
    assert_refused("DeleteMessageBatchRequestEntry.1.MessageAttribute.1.Name=a", NULL);
    assert_refused("DeleteMessageBatchRequestEntry.1.Id=a"
                   "&ChangeMessageVisibilityBatchRequestEntry.1.Id=b", "Entries");
    assert_refused("Attributes=x&Attribute.1.Name=a&Attribute.1.Value=b", "Attributes");
    assert_refused("QueueUrl=a&QueueUrl=b", "QueueUrl");
    assert_refused("MessageBody=%FF", "UTF-8");
    assert_refused("MessageBody=%C3", "UTF-8");
    assert_refused("Attribute.1.Name=%ED%A0%80&Attribute.1.Value=b", "UTF-8");
    assert_refused("%FF=a", "UTF-8");
    assert_refused("=a", NULL);
}

static void
test_error_message_is_bounded(void **state)
{
    char err[12], big[3000];
    json_t *j = NULL;
    size_t n;

    (void)state;
    memset(err, 'x', sizeof(err));
    assert_int_equal(convert("Attribute.0.Name=a", &j, err, sizeof(err)), SL_EPROTO);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_int_equal(convert("Attribute.0.Name=a", &j, NULL, 0), SL_EPROTO);
    assert_null(j);

    /* a long, non-ASCII name is quoted cut short and as ASCII */
    n = (size_t)sprintf(big, "Attribute.1.%%FF");
    memset(big + n, 'y', 2000);
    strcpy(big + n + 2000, "=v");
    {
        char msg[256];
        size_t i;

        assert_int_equal(convert(big, &j, msg, sizeof(msg)), SL_EPROTO);
        assert_true(strlen(msg) < 200);
        for (i = 0; msg[i] != '\0'; i++)
            assert_true(msg[i] >= 0x20 && msg[i] < 0x7f);
        assert_non_null(strstr(msg, "Attribute.1.?yyy"));
    }
}

/* ---- JSON to XML ---- */

static void
test_xml_receive_message(void **state)
{
    (void)state;
    /* the output accepted by awscli2 and boto3-126 (responses/query-sqs-ReceiveMessage.txt) */
    assert_result_xml(
        "ReceiveMessage",
        "{\"Messages\":[{\"MessageId\":\"6c696789-4a5a-49c3-98bb-541644c4dc29\","
        "\"ReceiptHandle\":\"rh-090ce37d-9152-4d6f-bc31-4214e6120b1b\","
        "\"MD5OfBody\":\"8015ae35d4b0b43bd5baa8876bcf3aab\",\"Body\":\"hello from sluice\","
        "\"Attributes\":{\"SenderId\":\"000000000000\",\"SentTimestamp\":\"1700000000000\","
        "\"ApproximateReceiveCount\":\"1\","
        "\"ApproximateFirstReceiveTimestamp\":\"1700000000123\"},"
        "\"MD5OfMessageAttributes\":\"b812dfcb966c8d052a5a11c97720d12b\","
        "\"MessageAttributes\":{\"color\":{\"DataType\":\"String\",\"StringValue\":\"blue\"},"
        "\"size\":{\"StringValue\":\"42\",\"DataType\":\"Number\"},"
        "\"blob\":{\"DataType\":\"Binary\",\"BinaryValue\":\"AAEC\"}}}]}",
        XML_DECL "<ReceiveMessageResponse " XMLNS "><ReceiveMessageResult><Message>"
        "<MessageId>6c696789-4a5a-49c3-98bb-541644c4dc29</MessageId>"
        "<ReceiptHandle>rh-090ce37d-9152-4d6f-bc31-4214e6120b1b</ReceiptHandle>"
        "<MD5OfBody>8015ae35d4b0b43bd5baa8876bcf3aab</MD5OfBody><Body>hello from sluice</Body>"
        "<Attribute><Name>SenderId</Name><Value>000000000000</Value></Attribute>"
        "<Attribute><Name>SentTimestamp</Name><Value>1700000000000</Value></Attribute>"
        "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
        "<Attribute><Name>ApproximateFirstReceiveTimestamp</Name><Value>1700000000123</Value>"
        "</Attribute>"
        "<MD5OfMessageAttributes>b812dfcb966c8d052a5a11c97720d12b</MD5OfMessageAttributes>"
        "<MessageAttribute><Name>color</Name><Value><StringValue>blue</StringValue>"
        "<DataType>String</DataType></Value></MessageAttribute>"
        "<MessageAttribute><Name>size</Name><Value><StringValue>42</StringValue>"
        "<DataType>Number</DataType></Value></MessageAttribute>"
        "<MessageAttribute><Name>blob</Name><Value><BinaryValue>AAEC</BinaryValue>"
        "<DataType>Binary</DataType></Value></MessageAttribute>"
        "</Message></ReceiveMessageResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</ReceiveMessageResponse>");
}

static void
test_xml_body_escaping(void **state)
{
    char *x;

    (void)state;
    x = result_xml("ReceiveMessage",
                   "{\"Messages\":[{\"MessageId\":\"m\",\"Body\":\"a\\r\\nb & <c>\"},"
                   "{\"MessageId\":\"n\",\"Body\":\"\\\"q\\\" 'a' \\t \\u00e9\\u0001]]>\"}]}",
                   "r");
    assert_non_null(strstr(x, "<Body>a&#xD;\nb &amp; &lt;c&gt;</Body>"));
    assert_non_null(strstr(x, "<Body>&quot;q&quot; &apos;a&apos; \t \xc3\xa9&#x1;]]&gt;</Body>"));
    assert_null(strchr(x, '\r'));
    free(x);

    {
        static const char plain[] = "plain text: ~!@#$%^*()_+-={}[]|\\:;?,./\xf0\x9f\x98\x80";

        x = escaped(plain, sizeof(plain) - 1);
        assert_string_equal(x, plain);
        free(x);
    }
    x = escaped("\r\r&&\0\x1f\x7f", 7);
    assert_string_equal(x, "&#xD;&#xD;&amp;&amp;&#x0;&#x1F;\x7f");
    free(x);
    x = escaped("", 0);
    assert_string_equal(x, "");
    free(x);
}

static void
test_xml_batch_results(void **state)
{
    (void)state;
    /* responses/query-sqs-SendMessageBatch.txt */
    assert_result_xml(
        "SendMessageBatch",
        "{\"Successful\":[{\"Id\":\"m1\",\"MessageId\":\"9078ce2d-b2f8-4a45-896c-c20ecc971f93\","
        "\"MD5OfMessageBody\":\"f97c5d29941bfb1b2fdab0874906ab82\"},"
        "{\"Id\":\"m2\",\"MessageId\":\"0d714b0e-27da-496d-98db-dab53d0e340c\","
        "\"MD5OfMessageBody\":\"b8a9f715dbb64fd5c56e7783c6820a61\","
        "\"MD5OfMessageAttributes\":\"0a77b0642718c3d9dd47090567d11e0d\"}]}",
        XML_DECL "<SendMessageBatchResponse " XMLNS "><SendMessageBatchResult>"
        "<SendMessageBatchResultEntry><Id>m1</Id>"
        "<MessageId>9078ce2d-b2f8-4a45-896c-c20ecc971f93</MessageId>"
        "<MD5OfMessageBody>f97c5d29941bfb1b2fdab0874906ab82</MD5OfMessageBody>"
        "</SendMessageBatchResultEntry>"
        "<SendMessageBatchResultEntry><Id>m2</Id>"
        "<MessageId>0d714b0e-27da-496d-98db-dab53d0e340c</MessageId>"
        "<MD5OfMessageBody>b8a9f715dbb64fd5c56e7783c6820a61</MD5OfMessageBody>"
        "<MD5OfMessageAttributes>0a77b0642718c3d9dd47090567d11e0d</MD5OfMessageAttributes>"
        "</SendMessageBatchResultEntry></SendMessageBatchResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</SendMessageBatchResponse>");
    assert_result_xml(
        "DeleteMessageBatch",
        "{\"Successful\":[{\"Id\":\"a\"}],\"Failed\":[{\"Id\":\"b\",\"SenderFault\":true,"
        "\"Code\":\"ReceiptHandleIsInvalid\",\"Message\":\"The handle <x> is invalid\"},"
        "{\"Id\":\"c\",\"SenderFault\":false,\"Code\":\"InternalError\",\"Message\":\"m\"}]}",
        XML_DECL "<DeleteMessageBatchResponse " XMLNS "><DeleteMessageBatchResult>"
        "<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"
        "<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault>"
        "<Code>ReceiptHandleIsInvalid</Code><Message>The handle &lt;x&gt; is invalid</Message>"
        "</BatchResultErrorEntry>"
        "<BatchResultErrorEntry><Id>c</Id><SenderFault>false</SenderFault>"
        "<Code>InternalError</Code><Message>m</Message></BatchResultErrorEntry>"
        "</DeleteMessageBatchResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</DeleteMessageBatchResponse>");
    /* responses/query-sqs-ChangeMessageVisibilityBatch.txt, all entries failed */
    assert_result_xml(
        "ChangeMessageVisibilityBatch", "{\"Successful\":[],\"Failed\":[{\"Id\":\"a\","
        "\"SenderFault\":true,\"Code\":\"X\",\"Message\":\"\"}]}",
        XML_DECL "<ChangeMessageVisibilityBatchResponse " XMLNS ">"
        "<ChangeMessageVisibilityBatchResult><BatchResultErrorEntry><Id>a</Id>"
        "<SenderFault>true</SenderFault><Code>X</Code><Message></Message>"
        "</BatchResultErrorEntry></ChangeMessageVisibilityBatchResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</ChangeMessageVisibilityBatchResponse>");
}

static void
test_xml_output_less_and_empty(void **state)
{
    static const char *const ops[] = {
        "DeleteMessage", "ChangeMessageVisibility", "SetQueueAttributes", "PurgeQueue",
        "DeleteQueue", "TagQueue", "UntagQueue",
    };
    char want[512], *x;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        snprintf(want, sizeof(want), XML_DECL "<%sResponse " XMLNS "><ResponseMetadata>"
                 "<RequestId>req-1</RequestId></ResponseMetadata></%sResponse>", ops[i], ops[i]);
        assert_result_xml(ops[i], "{}", want);
        x = result_xml(ops[i], NULL, "req-1");
        assert_string_equal(x, want);
        free(x);
    }
    assert_result_xml("ReceiveMessage", "{}",
                      XML_DECL "<ReceiveMessageResponse " XMLNS "><ReceiveMessageResult/>"
                      "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
                      "</ReceiveMessageResponse>");
    assert_result_xml("ListQueues", "{}",
                      XML_DECL "<ListQueuesResponse " XMLNS "><ListQueuesResult/>"
                      "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
                      "</ListQueuesResponse>");
    /* an empty Messages list writes no <Message> */
    assert_result_xml("ReceiveMessage", "{\"Messages\":[]}",
                      XML_DECL "<ReceiveMessageResponse " XMLNS "><ReceiveMessageResult>"
                      "</ReceiveMessageResult>"
                      "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
                      "</ReceiveMessageResponse>");
    x = result_xml("DeleteQueue", "{}", NULL);
    assert_non_null(strstr(x, "<RequestId></RequestId>"));
    free(x);
}

static void
test_xml_lists_maps_and_scalars(void **state)
{
    (void)state;
    /* responses/query-sqs-ListQueues.txt */
    assert_result_xml(
        "ListQueues",
        "{\"QueueUrls\":[\"http://127.0.0.1:4599/000000000000/q1\","
        "\"http://127.0.0.1:4599/000000000000/q2\"],\"NextToken\":\"t&1\"}",
        XML_DECL "<ListQueuesResponse " XMLNS "><ListQueuesResult>"
        "<QueueUrl>http://127.0.0.1:4599/000000000000/q1</QueueUrl>"
        "<QueueUrl>http://127.0.0.1:4599/000000000000/q2</QueueUrl>"
        "<NextToken>t&amp;1</NextToken></ListQueuesResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</ListQueuesResponse>");
    assert_result_xml(
        "ListDeadLetterSourceQueues", "{\"queueUrls\":[\"u1\",\"u2\"]}",
        XML_DECL "<ListDeadLetterSourceQueuesResponse " XMLNS ">"
        "<ListDeadLetterSourceQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl>"
        "</ListDeadLetterSourceQueuesResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</ListDeadLetterSourceQueuesResponse>");
    assert_result_xml(
        "GetQueueAttributes",
        "{\"Attributes\":{\"QueueArn\":\"arn:aws:sqs:us-east-1:000000000000:q1\","
        "\"RedrivePolicy\":\"{\\\"maxReceiveCount\\\":\\\"3\\\"}\"}}",
        XML_DECL "<GetQueueAttributesResponse " XMLNS "><GetQueueAttributesResult>"
        "<Attribute><Name>QueueArn</Name><Value>arn:aws:sqs:us-east-1:000000000000:q1</Value>"
        "</Attribute><Attribute><Name>RedrivePolicy</Name>"
        "<Value>{&quot;maxReceiveCount&quot;:&quot;3&quot;}</Value></Attribute>"
        "</GetQueueAttributesResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</GetQueueAttributesResponse>");
    assert_result_xml(
        "ListQueueTags", "{\"Tags\":{\"env\":\"dev\",\"a<b\":\"\"}}",
        XML_DECL "<ListQueueTagsResponse " XMLNS "><ListQueueTagsResult>"
        "<Tag><Key>env</Key><Value>dev</Value></Tag><Tag><Key>a&lt;b</Key><Value></Value></Tag>"
        "</ListQueueTagsResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</ListQueueTagsResponse>");
    /* responses/query-sqs-SendMessage-fifo.txt, plus the other JSON kinds */
    assert_result_xml(
        "SendMessage",
        "{\"MD5OfMessageBody\":\"859aed88036979655983f05c544e190c\","
        "\"MessageId\":\"7417f006-5353-483f-b1e3-c41d7e10c3f6\","
        "\"SequenceNumber\":\"18849496460467696128\",\"N\":-42,\"T\":true,\"F\":false,"
        "\"Z\":null,\"R\":0.5,\"L\":[\"x\",1,{\"a\":\"b\"}],\"O\":{\"p\":{\"q\":\"r\"}}}",
        XML_DECL "<SendMessageResponse " XMLNS "><SendMessageResult>"
        "<MD5OfMessageBody>859aed88036979655983f05c544e190c</MD5OfMessageBody>"
        "<MessageId>7417f006-5353-483f-b1e3-c41d7e10c3f6</MessageId>"
        "<SequenceNumber>18849496460467696128</SequenceNumber><N>-42</N><T>true</T>"
        "<F>false</F><R>0.5</R><L>x</L><L>1</L><L><a>b</a></L><O><p><q>r</q></p></O>"
        "</SendMessageResult>"
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
        "</SendMessageResponse>");
}

static void
test_xml_error_document(void **state)
{
    struct evbuffer *b = evbuffer_new();
    char *x;

    (void)state;
    sl_sqs_xml_error(b, SL_SQS_XMLNS, true, "AWS.SimpleQueueService.NonExistentQueue",
                     "The specified queue does not exist.", "req-9");
    x = drain(b);
    assert_string_equal(x, XML_DECL "<ErrorResponse " XMLNS "><Error><Type>Sender</Type>"
                        "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"
                        "<Message>The specified queue does not exist.</Message><Detail/></Error>"
                        "<RequestId>req-9</RequestId></ErrorResponse>");
    free(x);

    b = evbuffer_new();
    sl_sqs_xml_error(b, "http://sns.amazonaws.com/doc/2010-03-31/", false, "InternalError",
                     "bad \"thing\" <&>\r\n", NULL);
    x = drain(b);
    assert_string_equal(x, XML_DECL "<ErrorResponse "
                        "xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>"
                        "<Type>Receiver</Type><Code>InternalError</Code>"
                        "<Message>bad &quot;thing&quot; &lt;&amp;&gt;&#xD;\n</Message><Detail/>"
                        "</Error><RequestId></RequestId></ErrorResponse>");
    free(x);

    b = evbuffer_new();
    sl_sqs_xml_error(b, SL_SQS_XMLNS, true, "MissingParameter", NULL, "r");
    x = drain(b);
    assert_non_null(strstr(x, "<Message></Message>"));
    free(x);
}

/* A converted request written back as XML: the two halves compose without surprises. */
static void
test_round_trip_through_xml(void **state)
{
    json_t *j = must_convert(vectors[1].form);      /* SendMessage with attributes */
    struct evbuffer *b = evbuffer_new();
    char *x;

    (void)state;
    sl_sqs_xml_result(b, "SendMessage", j, "r");
    x = drain(b);
    assert_non_null(strstr(x, "<MessageBody>hello world</MessageBody><DelaySeconds>5"));
    assert_non_null(strstr(x, "<MessageAttribute><Name>blob</Name><Value>"
                              "<BinaryValue>AAEC</BinaryValue><DataType>Binary</DataType>"));
    free(x);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captured_vectors),
        cmocka_unit_test(test_values_stay_strings),
        cmocka_unit_test(test_index_order_and_gaps),
        cmocka_unit_test(test_batch_entry_attributes),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_error_message_is_bounded),
        cmocka_unit_test(test_xml_receive_message),
        cmocka_unit_test(test_xml_body_escaping),
        cmocka_unit_test(test_xml_batch_results),
        cmocka_unit_test(test_xml_output_less_and_empty),
        cmocka_unit_test(test_xml_lists_maps_and_scalars),
        cmocka_unit_test(test_xml_error_document),
        cmocka_unit_test(test_round_trip_through_xml),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#!/usr/bin/python3
"""SNS topics through boto3 1.26 from Debian (SNS query protocol): topics,
subscriptions, filter policies, raw and enveloped delivery to queues, function
subscribers (SNS event, async retries, DLQ), an HTTP subscriber that confirms
by fetching SubscribeURL, HTTP delivery failures landing in the subscription
DLQ, FIFO topics, and the SNS error shapes. Runs on every store (conformance).

Usage: /usr/bin/python3 test_sns.py BUILD_DIR [REPO_DIR]
"""

import base64
import hashlib
import http.server
import json
import os
import re
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:
    print("SKIP: boto3 missing for %s; run tests/install-deps.sh" % sys.executable)
    sys.exit(77)

import broker  # noqa: E402
from broker import md5_hex, md5_of_attributes  # noqa: E402

BROKER = None  # set by broker.main()
ACCOUNT = "000000000000"
FN_DIR = os.path.join(HERE, "functions", "sns_shell")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def client(service):
    return boto3.client(
        service, endpoint_url=BROKER.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30))


def err(e):
    return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
            e.response["Error"]["Message"])


def queue_arn(name):
    return "arn:aws:sqs:us-east-1:%s:%s" % (ACCOUNT, name)


def api(method, path, body=None, ok=(200,)):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BROKER.endpoint + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, out = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, out = e.code, e.read()
    if status not in ok:
        raise AssertionError("%s %s -> %d %s" % (method, path, status, out))
    return status, json.loads(out or b"{}")


def wait_until(cond, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def string_to_sign(m):
    if m["Type"] == "Notification":
        keys = ["Message", "MessageId"] + (["Subject"] if "Subject" in m else []) + \
            ["Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join("%s\n%s\n" % (k, m[k]) for k in keys).encode("utf-8")


def verify_signature(test, m):
    """Checks m's Signature with the certificate at its SigningCertURL, as
    SNS message validators do (minus their amazonaws.com host check)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
    except ImportError:
        return      # python3-cryptography comes with awscli; without it, skip the check
    with urllib.request.urlopen(m["SigningCertURL"], timeout=10) as r:
        cert = x509.load_pem_x509_certificate(r.read())
    algo = hashes.SHA256() if m["SignatureVersion"] == "2" else hashes.SHA1()
    cert.public_key().verify(base64.b64decode(m["Signature"]), string_to_sign(m),
                             padding.PKCS1v15(), algo)       # raises if wrong
    bad = dict(m, Message=m["Message"] + "!")
    with test.assertRaises(Exception):
        cert.public_key().verify(base64.b64decode(m["Signature"]), string_to_sign(bad),
                                 padding.PKCS1v15(), algo)


class Subscriber:
    """A local HTTP endpoint that records what SNS posts and answers `status`
    (notifications only; confirmations always get 200)."""

    def __init__(self, status=200):
        self.requests = []
        self.status = status
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode("utf-8")
                outer.requests.append((dict(self.headers), body))
                kind = self.headers.get("x-amz-sns-message-type")
                code = 200 if kind == "SubscriptionConfirmation" else outer.status
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of_type(self, kind):
        return [(h, b) for h, b in self.requests
                if h.get("x-amz-sns-message-type") == kind]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SnsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sns = client("sns")
        cls.sqs = client("sqs")

    def setUp(self):
        self.tag = self.id().rsplit(".", 1)[1].replace("_", "-")[:50]

    def topic(self, suffix="t", **kw):
        return self.sns.create_topic(Name=self.tag + "-" + suffix, **kw)["TopicArn"]

    def queue(self, suffix, attributes=None):
        name = self.tag + "-" + suffix
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
        return name, url

    def subscribe_queue(self, topic, qname, **attrs):
        return self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(qname),
                                  Attributes=attrs, ReturnSubscriptionArn=True)["SubscriptionArn"]

    def drain(self, url, want, timeout=20.0):
        """Receives until `want` messages came (bounded), deleting them."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         MessageAttributeNames=["All"])
            for m in r.get("Messages", []):
                got.append(m)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def assert_empty(self, url):
        r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        self.assertEqual(r.get("Messages", []), [])


class Topics(SnsCase):
    def test_create_list_attributes_tags_delete(self):
        arn = self.topic(Attributes={"DisplayName": "orders"},
                         Tags=[{"Key": "team", "Value": "a"}])
        self.assertEqual(arn, "arn:aws:sns:us-east-1:%s:%s-t" % (ACCOUNT, self.tag))
        # CreateTopic is idempotent for the same settings.
        self.assertEqual(self.topic(), arn)
        arns = []
        for page in self.sns.get_paginator("list_topics").paginate():
            arns += [t["TopicArn"] for t in page["Topics"]]
        self.assertIn(arn, arns)
        a = self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        self.assertEqual(a["TopicArn"], arn)
        self.assertEqual(a["DisplayName"], "orders")
        self.assertEqual(a["Owner"], ACCOUNT)
        self.assertEqual(a["SubscriptionsConfirmed"], "0")
        self.sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName",
                                      AttributeValue="renamed")
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"],
                         "renamed")
        self.sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
        tags = self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
        self.assertEqual(sorted((t["Key"], t["Value"]) for t in tags),
                         [("env", "dev"), ("team", "a")])
        self.sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
        self.assertEqual(self.sns.list_tags_for_resource(ResourceArn=arn)["Tags"],
                         [{"Key": "env", "Value": "dev"}])
        qname, _ = self.queue("q")
        sub = self.subscribe_queue(arn, qname)
        self.sns.delete_topic(TopicArn=arn)
        self.sns.delete_topic(TopicArn=arn)      # idempotent
        with self.assertRaises(self.sns.exceptions.NotFoundException) as cm:
            self.sns.get_topic_attributes(TopicArn=arn)
        self.assertEqual(err(cm.exception)[:2], ("NotFound", 404))
        # Its subscriptions went with it.
        with self.assertRaises(self.sns.exceptions.NotFoundException):
            self.sns.get_subscription_attributes(SubscriptionArn=sub)

    def test_many_topics_page(self):
        for i in range(105):
            self.sns.create_topic(Name="%s-%03d" % (self.tag, i))
        pages = list(self.sns.get_paginator("list_topics").paginate())
        arns = [t["TopicArn"] for p in pages for t in p["Topics"]]
        mine = [a for a in arns if (":%s-" % self.tag) in a]
        self.assertEqual(len(mine), 105)
        self.assertEqual(len(arns), len(set(arns)))
        self.assertGreaterEqual(len(pages), 2)


class QueueDelivery(SnsCase):
    def test_fanout_with_filter_policies_raw_and_envelope(self):
        topic = self.topic()
        all_q, all_url = self.queue("all")
        red_q, red_url = self.queue("red")
        body_q, body_url = self.queue("body")
        self.subscribe_queue(topic, all_q)
        red_sub = self.subscribe_queue(topic, red_q, RawMessageDelivery="true",
                                       FilterPolicy=json.dumps({"color": ["red"]}))
        self.subscribe_queue(topic, body_q, FilterPolicyScope="MessageBody",
                             FilterPolicy=json.dumps({"size": [{"numeric": [">", 10]}]}))
        attrs = {
            "color": {"DataType": "String", "StringValue": "red"},
            "n": {"DataType": "Number", "StringValue": "42"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
        }
        m1 = self.sns.publish(TopicArn=topic, Message="red one", Subject="hello",
                              MessageAttributes=attrs)["MessageId"]
        self.assertRegex(m1, UUID_RE)
        self.sns.publish(TopicArn=topic, Message=json.dumps({"size": 20}),
                         MessageAttributes={"color": {"DataType": "String",
                                                      "StringValue": "blue"}})
        self.sns.publish(TopicArn=topic, Message=json.dumps({"size": 5}))

        got = self.drain(all_url, 3)
        self.assertEqual(len(got), 3)
        envs = [json.loads(m["Body"]) for m in got]
        env = next(e for e in envs if e["Message"] == "red one")
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["MessageId"], m1)
        self.assertEqual(env["TopicArn"], topic)
        self.assertEqual(env["Subject"], "hello")
        self.assertRegex(env["Timestamp"], ISO_RE)
        self.assertIn(env["SignatureVersion"], ("1", "2"))
        self.assertTrue(env["Signature"])
        self.assertTrue(env["SigningCertURL"].startswith(BROKER.endpoint))
        self.assertTrue(env["UnsubscribeURL"].startswith(
            BROKER.endpoint + "/?Action=Unsubscribe&SubscriptionArn=" + topic + ":"))
        verify_signature(self, env)
        self.assertEqual(env["MessageAttributes"]["color"], {"Type": "String", "Value": "red"})
        self.assertEqual(env["MessageAttributes"]["n"], {"Type": "Number", "Value": "42"})
        self.assertEqual(env["MessageAttributes"]["blob"],
                         {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01\x02").decode()})
        # Enveloped deliveries carry no SQS attributes; MD5 is over the envelope.
        for m in got:
            self.assertNotIn("MessageAttributes", m)
            self.assertEqual(m["MD5OfBody"], md5_hex(m["Body"]))
        self.assertTrue(all("Subject" not in e for e in envs if e["Message"] != "red one"))

        red = self.drain(red_url, 1)
        self.assertEqual(len(red), 1)
        self.assertEqual(red[0]["Body"], "red one")
        self.assertEqual(red[0]["MessageAttributes"], attrs)
        self.assertEqual(red[0]["MD5OfMessageAttributes"], md5_of_attributes(attrs))
        self.assert_empty(red_url)

        with urllib.request.urlopen(BROKER.endpoint + "/metrics", timeout=10) as r:
            metrics = r.read().decode()
        self.assertRegex(metrics, r'sluice_topic_deliveries_total\{outcome="filtered"\} [1-9]')
        self.assertRegex(metrics, r'sluice_topic_deliveries_total\{outcome="delivered"\} [1-9]')
        self.assertRegex(metrics, r'sluice_topic_published_total [1-9]')
        body = self.drain(body_url, 1)
        self.assertEqual([json.loads(json.loads(m["Body"])["Message"]) for m in body],
                         [{"size": 20}])
        self.assert_empty(body_url)

        # Changing the policy applies to the next publish at once.
        self.sns.set_subscription_attributes(SubscriptionArn=red_sub, AttributeName="FilterPolicy",
                                             AttributeValue=json.dumps({"color": ["blue"]}))
        self.sns.publish(TopicArn=topic, Message="blue now", MessageAttributes={
            "color": {"DataType": "String", "StringValue": "blue"}})
        self.assertEqual([m["Body"] for m in self.drain(red_url, 1)], ["blue now"])

    def test_aws_documented_filter_policy_examples(self):
        """AWS's SNS filter-policy examples (attribute scope), through the broker:
        one subscription per policy, AWS's example message published once."""
        topic = self.topic()
        message_attrs = {
            "store": {"DataType": "String", "StringValue": "example_corp"},
            "event": {"DataType": "String", "StringValue": "order_placed"},
            "customer_interests": {"DataType": "String.Array",
                                   "StringValue": json.dumps(["soccer", "rugby", "hockey"])},
            "price_usd": {"DataType": "Number", "StringValue": "210.75"},
            "encrypted": {"DataType": "Binary", "BinaryValue": b"\x01"},
        }
        table = [
            ({"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}]}, True),
            ({"store": ["example_corp"], "event": ["order_cancelled"]}, False),
            ({"customer_interests": ["rugby", "tennis"]}, True),
            ({"customer_interests": ["baseball"]}, False),
            ({"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}, True),
            ({"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, False),
            ({"price_usd": [{"numeric": [">=", 200]}]}, True),
            ({"store": [{"prefix": "example"}]}, True),
            ({"store": [{"suffix": "_corp"}]}, True),
            ({"store": [{"equals-ignore-case": "EXAMPLE_CORP"}]}, True),
            ({"event": [{"anything-but": {"prefix": "order-"}}]}, True),
            # Binary attributes are invisible to policies (lambda-events.md §7).
            ({"encrypted": [{"exists": True}]}, False),
            ({"encrypted": [{"exists": False}]}, True),
            ({"source": [{"exists": False}]}, True),
            ({"store": [{"exists": False}]}, False),
            ({"store": ["example_corp"], "$or": [{"price_usd": [{"numeric": [">", 500]}]},
                                                {"event": ["order_placed"]}]}, True),
            ({"store": ["example_corp"], "$or": [{"price_usd": [{"numeric": [">", 500]}]},
                                                {"event": ["order_cancelled"]}]}, False),
        ]
        urls = []
        for i, (policy, _) in enumerate(table):
            qname, url = self.queue("p%02d" % i)
            self.subscribe_queue(topic, qname, FilterPolicy=json.dumps(policy))
            urls.append(url)
        self.sns.publish(TopicArn=topic, Message="example", MessageAttributes=message_attrs)
        # A sentinel subscription without a policy tells when the fanout is done.
        sq, surl = self.queue("sentinel")
        self.subscribe_queue(topic, sq)
        self.sns.publish(TopicArn=topic, Message="sentinel")
        self.assertEqual(len(self.drain(surl, 1)), 1)
        for (policy, expect), url in zip(table, urls):
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=1 if expect else 0)
            bodies = [json.loads(m["Body"])["Message"] for m in r.get("Messages", [])]
            bodies = [b for b in bodies if b != "sentinel"]
            self.assertEqual(bodies, ["example"] if expect else [],
                             "policy %s" % json.dumps(policy))

    def test_publish_batch_and_message_structure(self):
        topic = self.topic()
        q, url = self.queue("q")
        self.subscribe_queue(topic, q, RawMessageDelivery="true")
        r = self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "a", "Message": "first"},
            {"Id": "b", "Message": json.dumps({"default": "dflt", "sqs": "for queues",
                                               "lambda": "for functions"}),
             "MessageStructure": "json"},
            {"Id": "c", "Message": ""},
        ])
        self.assertEqual(sorted(s["Id"] for s in r["Successful"]), ["a", "b"])
        for s in r["Successful"]:
            self.assertRegex(s["MessageId"], UUID_RE)
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in r["Failed"]],
                         [("c", "InvalidParameter", True)])
        self.assertEqual(sorted(m["Body"] for m in self.drain(url, 2)), ["first", "for queues"])
        with self.assertRaises(ClientError) as cm:
            self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                {"Id": "x", "Message": "m"}, {"Id": "x", "Message": "n"}])
        self.assertEqual(err(cm.exception)[0], "BatchEntryIdsNotDistinct")
        with self.assertRaises(ClientError) as cm:
            self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
                {"Id": "e%d" % i, "Message": "m"} for i in range(11)])
        self.assertEqual(err(cm.exception)[0], "TooManyEntriesInBatchRequest")

    def test_unsubscribe_and_lists(self):
        topic = self.topic()
        q1, url1 = self.queue("q1")
        q2, _ = self.queue("q2")
        s1 = self.subscribe_queue(topic, q1)
        s2 = self.subscribe_queue(topic, q2)
        self.assertEqual(self.subscribe_queue(topic, q1), s1)     # same endpoint: same ARN
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual(sorted(s["SubscriptionArn"] for s in subs), sorted([s1, s2]))
        for s in subs:
            self.assertEqual((s["Protocol"], s["TopicArn"], s["Owner"]), ("sqs", topic, ACCOUNT))
        a = self.sns.get_subscription_attributes(SubscriptionArn=s1)["Attributes"]
        self.assertEqual((a["Protocol"], a["Endpoint"], a["PendingConfirmation"],
                          a["RawMessageDelivery"]), ("sqs", queue_arn(q1), "false", "false"))
        self.sns.unsubscribe(SubscriptionArn=s2)
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual([s["SubscriptionArn"] for s in subs], [s1])
        all_subs = [s["SubscriptionArn"] for p in
                    self.sns.get_paginator("list_subscriptions").paginate()
                    for s in p["Subscriptions"]]
        self.assertIn(s1, all_subs)
        self.assertNotIn(s2, all_subs)
        with self.assertRaises(self.sns.exceptions.NotFoundException):
            self.sns.unsubscribe(SubscriptionArn=s2)
        # The envelope's UnsubscribeURL works as a plain GET, as subscribers use it.
        self.sns.publish(TopicArn=topic, Message="bye")
        env = json.loads(self.drain(url1, 1)[0]["Body"])
        with urllib.request.urlopen(env["UnsubscribeURL"], timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertIn(b"UnsubscribeResponse", r.read())
        self.assertEqual(self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"],
                         [])

    def test_missing_queue_goes_to_subscription_dlq(self):
        topic = self.topic()
        dlq, dlq_url = self.queue("dlq")
        sub = self.subscribe_queue(topic, self.tag + "-nonexistent", RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": queue_arn(dlq)}))
        mid = self.sns.publish(TopicArn=topic, Message="lost")["MessageId"]
        got = self.drain(dlq_url, 1)
        self.assertEqual(len(got), 1)
        env = json.loads(got[0]["Body"])
        self.assertEqual((env["MessageId"], env["Message"]), (mid, "lost"))
        self.assertEqual(got[0]["MessageAttributes"]["ErrorCode"]["StringValue"], "NotFound")
        self.assertIn("ErrorMessage", got[0]["MessageAttributes"])
        self.assertIn("RequestID", got[0]["MessageAttributes"])
        self.assertEqual(self.sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
                         ["RedrivePolicy"], json.dumps({"deadLetterTargetArn": queue_arn(dlq)}))


class Fifo(SnsCase):
    def test_fifo_topic_to_fifo_queue_in_order(self):
        topic = self.sns.create_topic(Name=self.tag + ".fifo", Attributes={
            "FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]
        name = self.tag + "-q.fifo"
        url = self.sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
        self.subscribe_queue(topic, name, RawMessageDelivery="true")
        seqs = []
        entries = [{"Id": "e%d" % i, "Message": "%s-%d" % ("ab"[i % 2], i),
                    "MessageGroupId": "ab"[i % 2]} for i in range(10)]
        r = self.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        self.assertEqual(len(r["Successful"]), 10)
        for i in range(10, 30):
            r = self.sns.publish(TopicArn=topic, Message="%s-%d" % ("ab"[i % 2], i),
                                 MessageGroupId="ab"[i % 2])
            seqs.append(int(r["SequenceNumber"]))
        self.assertEqual(seqs, sorted(seqs))
        dup = self.sns.publish(TopicArn=topic, Message="a-10", MessageGroupId="a")
        self.assertEqual(int(dup["SequenceNumber"]), seqs[0])    # deduplicated
        bodies = []
        deadline = time.monotonic() + 20
        while len(bodies) < 30 and time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                         AttributeNames=["MessageGroupId"])
            for m in r.get("Messages", []):
                bodies.append(m["Body"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        # Each group in publish order, nothing twice.
        for g in "ab":
            self.assertEqual([b for b in bodies if b[0] == g],
                             ["%s-%d" % (g, i) for i in range(30) if "ab"[i % 2] == g])
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.subscribe(TopicArn=topic, Protocol="lambda",
                               Endpoint="arn:aws:lambda:us-east-1:%s:function:f" % ACCOUNT)
        with self.assertRaises(ClientError) as cm:
            self.sns.publish(TopicArn=topic, Message="no group")
        self.assertEqual(err(cm.exception)[0], "InvalidParameter")
        self.assertIn("MessageGroupId", err(cm.exception)[2])
        with self.assertRaises(ClientError) as cm:
            self.sns.create_topic(Name=self.tag + "-plain.fifo")
        self.assertEqual(err(cm.exception)[0], "InvalidParameter")


class Errors(SnsCase):
    def test_error_shapes(self):
        topic = self.topic()
        missing = topic + "-missing"
        with self.assertRaises(self.sns.exceptions.NotFoundException) as cm:
            self.sns.publish(TopicArn=missing, Message="x")
        self.assertEqual(err(cm.exception), ("NotFound", 404, "Topic does not exist"))
        with self.assertRaises(self.sns.exceptions.InvalidParameterException) as cm:
            self.sns.publish(TopicArn=topic, Message="x" * (256 * 1024 + 1))
        self.assertEqual(err(cm.exception)[2], "Invalid parameter: Message too long")
        with self.assertRaises(self.sns.exceptions.InvalidParameterException) as cm:
            self.sns.publish(TopicArn=topic, Message="x", MessageStructure="json")
        self.assertIn("Message Structure", err(cm.exception)[2])
        with self.assertRaises(self.sns.exceptions.InvalidParameterException) as cm:
            self.sns.publish(TopicArn=topic, Message="x", MessageAttributes={
                "n": {"DataType": "Number", "StringValue": "abc"}})
        for proto, endpoint in (("email", "a@example.com"), ("sms", "+15555550100"),
                                ("application", "arn:aws:sns:us-east-1:0:app/x"),
                                ("firehose", "arn:aws:firehose:us-east-1:0:x")):
            with self.assertRaises(self.sns.exceptions.InvalidParameterException) as cm:
                self.sns.subscribe(TopicArn=topic, Protocol=proto, Endpoint=endpoint)
            self.assertIn("does not deliver", err(cm.exception)[2])
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="not-an-arn")
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.subscribe(TopicArn=topic, Protocol="carrier-pigeon", Endpoint="x")
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.confirm_subscription(TopicArn=topic, Token="nope")
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.create_topic(Name="bad name!")
        # The broker keeps serving.
        self.assertEqual(self.sns.get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"],
                         topic)

    def test_bad_filter_policies_get_aws_messages(self):
        topic = self.topic()
        q, _ = self.queue("q")
        cases = [
            ({"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"]},
             "Filter policy can not have more than 5 keys"),
            ({"a": [{"wildcard": "x*"}]}, None),
            ({"a": "not-a-list"}, None),
            ({"a": [{"numeric": [">", "x"]}]}, None),
        ]
        for policy, text in cases:
            with self.assertRaises(self.sns.exceptions.InvalidParameterException) as cm:
                self.subscribe_queue(topic, q, FilterPolicy=json.dumps(policy))
            msg = err(cm.exception)[2]
            self.assertTrue(msg.startswith("Invalid parameter: FilterPolicy: "), msg)
            if text:
                self.assertIn(text, msg)
        with self.assertRaises(self.sns.exceptions.InvalidParameterException) as cm:
            self.subscribe_queue(topic, q, FilterPolicy="{not json")
        sub = self.subscribe_queue(topic, q)
        with self.assertRaises(self.sns.exceptions.InvalidParameterException) as cm:
            self.sns.set_subscription_attributes(
                SubscriptionArn=sub, AttributeName="FilterPolicy",
                AttributeValue=json.dumps({"a": [{"cidr": "10.0.0.0/99"}]}))
        self.assertTrue(err(cm.exception)[2].startswith("Invalid parameter: FilterPolicy: "))
        # Nested keys need the MessageBody scope.
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.set_subscription_attributes(
                SubscriptionArn=sub, AttributeName="FilterPolicy",
                AttributeValue=json.dumps({"a": {"b": ["c"]}}))
        self.sns.set_subscription_attributes(SubscriptionArn=sub,
                                             AttributeName="FilterPolicyScope",
                                             AttributeValue="MessageBody")
        self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                             AttributeValue=json.dumps({"a": {"b": ["c"]}}))
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.set_subscription_attributes(SubscriptionArn=sub,
                                                 AttributeName="FilterPolicyScope",
                                                 AttributeValue="Elsewhere")
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="Bogus",
                                                 AttributeValue="1")


class Functions(SnsCase):
    def setUp(self):
        super().setUp()
        fd, self.out = tempfile.mkstemp(prefix="sluice-sns-fn.")
        os.close(fd)
        self.fn = self.tag[:40] + "-fn"
        api("POST", "/v1/functions", {"name": self.fn, "kind": "process",
                                      "command": "sh ../shell/bootstrap", "cwd": FN_DIR,
                                      "handler": "sns.handler",
                                      "env": {"SLUICE_TEST_OUT": self.out},
                                      "timeout_ms": 5000, "idle_timeout_ms": 1500})

    def tearDown(self):
        os.unlink(self.out)

    def events(self):
        with open(self.out) as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def fn_arn(self):
        return "arn:aws:lambda:us-east-1:%s:function:%s" % (ACCOUNT, self.fn)

    def test_function_gets_the_sns_event(self):
        topic = self.topic()
        sub = self.sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=self.fn_arn(),
                                 ReturnSubscriptionArn=True)["SubscriptionArn"]
        mid = self.sns.publish(TopicArn=topic, Message=json.dumps(
            {"default": "plain", "lambda": "hello function"}), MessageStructure="json",
            MessageAttributes={"size": {"DataType": "Number", "StringValue": "42"}})["MessageId"]
        wait_until(lambda: self.events(), what="the invocation")
        ev = self.events()[0]
        self.assertEqual(len(ev["Records"]), 1)
        r = ev["Records"][0]
        self.assertEqual((r["EventSource"], r["EventVersion"], r["EventSubscriptionArn"]),
                         ("aws:sns", "1.0", sub))
        s = r["Sns"]
        self.assertEqual((s["Type"], s["MessageId"], s["TopicArn"], s["Message"]),
                         ("Notification", mid, topic, "hello function"))
        self.assertIsNone(s["Subject"])
        self.assertRegex(s["Timestamp"], ISO_RE)
        self.assertEqual(s["MessageAttributes"], {"size": {"Type": "Number", "Value": "42"}})
        self.assertTrue(s["SigningCertUrl"].startswith("http"))
        self.assertTrue(s["UnsubscribeUrl"].startswith(BROKER.endpoint + "/?Action=Unsubscribe"))

    def test_failing_function_retries_twice_then_dlq(self):
        topic = self.topic()
        dlq, dlq_url = self.queue("dlq")
        self.sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=self.fn_arn(),
                           Attributes={"RedrivePolicy": json.dumps(
                               {"deadLetterTargetArn": queue_arn(dlq)})})
        mid = self.sns.publish(TopicArn=topic, Message="poison pill")["MessageId"]
        got = self.drain(dlq_url, 1, timeout=30)
        self.assertEqual(len(got), 1)
        self.assertEqual(json.loads(got[0]["Body"])["MessageId"], mid)
        self.assertEqual(got[0]["MessageAttributes"]["ErrorCode"]["StringValue"], "FunctionError")
        # Lambda's asynchronous invocation: the first try and two retries.
        self.assertEqual(len(self.events()), 3)

    def test_raw_delivery_refused_for_functions(self):
        topic = self.topic()
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=self.fn_arn(),
                               Attributes={"RawMessageDelivery": "true"})


class Http(SnsCase):
    def setUp(self):
        super().setUp()
        self.hook = Subscriber()
        self.addCleanup(self.hook.close)

    def subscribe_and_confirm(self, topic, **attrs):
        r = self.sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=self.hook.url,
                               Attributes=attrs)
        self.assertEqual(r["SubscriptionArn"], "pending confirmation")
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual([s["SubscriptionArn"] for s in subs], ["PendingConfirmation"])
        headers, body = wait_until(lambda: self.hook.of_type("SubscriptionConfirmation"),
                                   what="the confirmation request")[0]
        conf = json.loads(body)
        self.assertEqual(conf["Type"], "SubscriptionConfirmation")
        self.assertEqual(headers["x-amz-sns-topic-arn"], topic)
        self.assertEqual(headers["x-amz-sns-message-id"], conf["MessageId"])
        self.assertTrue(conf["Token"])
        for k in ("Message", "MessageId", "Timestamp", "TopicArn", "Signature", "SigningCertURL",
                  "SignatureVersion", "SubscribeURL"):
            self.assertIn(k, conf)
        verify_signature(self, conf)
        # The subscriber confirms the way real ones do: GET SubscribeURL.
        with urllib.request.urlopen(conf["SubscribeURL"], timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertIn(b"<SubscriptionArn>", r.read())
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        self.assertEqual(len(subs), 1)
        self.assertTrue(subs[0]["SubscriptionArn"].startswith(topic + ":"))
        return subs[0]["SubscriptionArn"]

    def test_http_subscriber_confirms_then_receives(self):
        topic = self.topic()
        sub = self.subscribe_and_confirm(topic)
        mid = self.sns.publish(TopicArn=topic, Message="to the web", Subject="s")["MessageId"]
        headers, body = wait_until(lambda: self.hook.of_type("Notification"),
                                   what="the notification")[0]
        self.assertEqual(headers["x-amz-sns-message-id"], mid)
        self.assertEqual(headers["x-amz-sns-topic-arn"], topic)
        self.assertEqual(headers["x-amz-sns-subscription-arn"], sub)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        env = json.loads(body)
        self.assertEqual((env["Type"], env["MessageId"], env["Message"], env["Subject"]),
                         ("Notification", mid, "to the web", "s"))
        # Confirming again with the same token is harmless; a stranger's token is not.
        conf = json.loads(self.hook.of_type("SubscriptionConfirmation")[0][1])
        self.assertEqual(self.sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])
                         ["SubscriptionArn"], sub)

    def test_signature_version_2(self):
        topic = self.topic(Attributes={"SignatureVersion": "2"})
        self.subscribe_and_confirm(topic)
        self.sns.publish(TopicArn=topic, Message="sha256 please", Subject="sig")
        env = json.loads(wait_until(lambda: self.hook.of_type("Notification"),
                                    what="the notification")[0][1])
        self.assertEqual(env["SignatureVersion"], "2")
        verify_signature(self, env)

    def test_raw_http_delivery(self):
        topic = self.topic()
        self.subscribe_and_confirm(topic, RawMessageDelivery="true")
        self.sns.publish(TopicArn=topic, Message="raw body")
        headers, body = wait_until(lambda: self.hook.of_type("Notification"),
                                   what="the notification")[0]
        self.assertEqual(body, "raw body")
        self.assertEqual(headers.get("x-amz-sns-rawdelivery"), "true")

    def test_failing_endpoint_retries_per_policy_then_dlq(self):
        topic = self.topic()
        dlq, dlq_url = self.queue("dlq")
        self.hook.status = 500
        self.subscribe_and_confirm(topic, DeliveryPolicy=json.dumps({"healthyRetryPolicy": {
            "numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1, "numNoDelayRetries": 1}}),
            RedrivePolicy=json.dumps({"deadLetterTargetArn": queue_arn(dlq)}))
        mid = self.sns.publish(TopicArn=topic, Message="nobody home")["MessageId"]
        got = self.drain(dlq_url, 1, timeout=30)
        self.assertEqual(len(got), 1)
        self.assertEqual(json.loads(got[0]["Body"])["MessageId"], mid)
        self.assertEqual(got[0]["MessageAttributes"]["ErrorCode"]["StringValue"], "HttpError")
        # The first try and numRetries=2 retries.
        self.assertEqual(len(self.hook.of_type("Notification")), 3)

    def test_4xx_counts_as_delivered(self):
        topic = self.topic()
        dlq, dlq_url = self.queue("dlq")
        self.hook.status = 404
        self.subscribe_and_confirm(topic, RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": queue_arn(dlq)}))
        self.sns.publish(TopicArn=topic, Message="gone")
        wait_until(lambda: self.hook.of_type("Notification"), what="the notification")
        self.assert_empty(dlq_url)
        self.assertEqual(len(self.hook.of_type("Notification")), 1)

    def test_bad_delivery_policy(self):
        topic = self.topic()
        with self.assertRaises(self.sns.exceptions.InvalidParameterException):
            self.sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=self.hook.url,
                               Attributes={"DeliveryPolicy": json.dumps({"healthyRetryPolicy": {
                                   "numRetries": 1, "numNoDelayRetries": 5}})})


if __name__ == "__main__":
    broker.main(sys.modules[__name__])

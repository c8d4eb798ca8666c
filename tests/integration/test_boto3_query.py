#!/usr/bin/python3
"""SQS through boto3 1.26 from Debian, which speaks the SQS *query* protocol.

Usage: /usr/bin/python3 test_boto3_query.py BUILD_DIR [REPO_DIR]
Starts its own sluiced (BUILD_DIR/sluiced) on a free loopback port.
"""

import json
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SPECIAL = "héllo wörld & = + ~*'()! 😀 a/b?c#d%"
ATTRS = {
    "color": {"DataType": "String", "StringValue": "blue"},
    "size": {"DataType": "Number", "StringValue": "42"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
}
ATTRS_MD5 = "b812dfcb966c8d052a5a11c97720d12b"


def client():
    return boto3.client(
        "sqs", endpoint_url=BROKER.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5,
                      read_timeout=30))


def err(e):
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


class SqsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sqs = client()

    def create(self, name, attributes=None, **kw):
        args = {"QueueName": name}
        if attributes:
            args["Attributes"] = attributes
        args.update(kw)
        url = self.sqs.create_queue(**args)["QueueUrl"]
        self.assertEqual(url, BROKER.queue_url(name))
        return url

    def attrs(self, url, *names):
        return self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=list(names) or ["All"])["Attributes"]

    def receive(self, url, n=10, **kw):
        r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n,
                                     WaitTimeSeconds=kw.pop("WaitTimeSeconds", 0), **kw)
        msgs = r.get("Messages", [])
        for m in msgs:
            self.assertEqual(m["MD5OfBody"], md5_hex(m["Body"]), m)
            self.assertRegex(m["MessageId"], UUID_RE)
            self.assertTrue(m["ReceiptHandle"])
        return msgs

    def receive_n(self, url, count, **kw):
        """Receive until `count` messages arrived (a few empty tries at most)."""
        got, empty = [], 0
        while len(got) < count and empty < 5:
            msgs = self.receive(url, min(10, count - len(got)), **kw)
            if not msgs:
                empty += 1
                time.sleep(0.1)
            got.extend(msgs)
        return got

    def assert_client_error(self, code, status, fn, *args, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kw)
        self.assertEqual(err(cm.exception), (code, status), cm.exception.response)
        return cm.exception


class TestProtocol(SqsCase):
    def test_client_speaks_query(self):
        # Debian's botocore 1.29 must use the query protocol, or this file tests JSON.
        self.assertEqual(self.sqs.meta.service_model.protocol, "query")


class TestQueues(SqsCase):
    def test_create_idempotent_and_conflict(self):
        a = {"VisibilityTimeout": "45", "DelaySeconds": "0"}
        url = self.create("bq-create", a)
        self.assertEqual(self.create("bq-create", a), url)
        e = self.assert_client_error("QueueAlreadyExists", 400, self.sqs.create_queue,
                                     QueueName="bq-create",
                                     Attributes={"VisibilityTimeout": "50"})
        self.assertIsInstance(e, self.sqs.exceptions.QueueNameExists)
        # the failed re-create left the queue as it was
        self.assertEqual(self.attrs(url, "VisibilityTimeout")["VisibilityTimeout"], "45")

    def test_get_queue_url(self):
        url = self.create("bq-geturl")
        self.assertEqual(self.sqs.get_queue_url(QueueName="bq-geturl")["QueueUrl"], url)
        r = self.sqs.get_queue_url(QueueName="bq-geturl",
                                   QueueOwnerAWSAccountId=broker.ACCOUNT)
        self.assertEqual(r["QueueUrl"], url)
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist):
            self.sqs.get_queue_url(QueueName="bq-geturl-nope")

    def test_list_queues_prefix(self):
        urls = [self.create(n) for n in ("lq-a1", "lq-a2", "lq-b1")]
        r = self.sqs.list_queues(QueueNamePrefix="lq-a")
        self.assertEqual(sorted(r.get("QueueUrls", [])), sorted(urls[:2]))
        r = self.sqs.list_queues()
        for u in urls:
            self.assertIn(u, r.get("QueueUrls", []))
        r = self.sqs.list_queues(QueueNamePrefix="lq-zzz")
        self.assertEqual(r.get("QueueUrls", []), [])

    def test_attribute_defaults(self):
        t0 = time.time()
        url = self.create("bq-defaults")
        a = self.attrs(url)
        self.assertEqual(a["VisibilityTimeout"], "30")
        self.assertEqual(a["MaximumMessageSize"], "262144")
        self.assertEqual(a["MessageRetentionPeriod"], "345600")
        self.assertEqual(a["DelaySeconds"], "0")
        self.assertEqual(a["ReceiveMessageWaitTimeSeconds"], "0")
        self.assertEqual(a["QueueArn"], "arn:aws:sqs:us-east-1:000000000000:bq-defaults")
        for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                  "ApproximateNumberOfMessagesDelayed"):
            self.assertEqual(a[k], "0", k)
        for k in ("CreatedTimestamp", "LastModifiedTimestamp"):
            # epoch seconds, not milliseconds
            self.assertLess(abs(int(a[k]) - t0), 300, (k, a[k]))
        self.assertNotIn("FifoQueue", a)
        self.assertNotIn("RedrivePolicy", a)

    def test_attributes_specific_names_and_set(self):
        url = self.create("bq-setattr")
        a = self.attrs(url, "VisibilityTimeout", "QueueArn")
        self.assertEqual(set(a), {"VisibilityTimeout", "QueueArn"})
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "VisibilityTimeout": "60", "MaximumMessageSize": "1024",
            "ReceiveMessageWaitTimeSeconds": "2", "DelaySeconds": "3",
            "MessageRetentionPeriod": "86400"})
        a = self.attrs(url)
        self.assertEqual(a["VisibilityTimeout"], "60")
        self.assertEqual(a["MaximumMessageSize"], "1024")
        self.assertEqual(a["ReceiveMessageWaitTimeSeconds"], "2")
        self.assertEqual(a["DelaySeconds"], "3")
        self.assertEqual(a["MessageRetentionPeriod"], "86400")

    def test_delete_queue(self):
        url = self.create("bq-delete")
        self.sqs.delete_queue(QueueUrl=url)
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist):
            self.sqs.get_queue_url(QueueName="bq-delete")
        self.assertNotIn(url, self.sqs.list_queues().get("QueueUrls", []))
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist):
            self.sqs.send_message(QueueUrl=url, MessageBody="x")

    def test_tags(self):
        url = self.create("bq-tags", tags={"env": "dev"})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url).get("Tags"), {"env": "dev"})
        self.sqs.tag_queue(QueueUrl=url, Tags={"team": "core", "env": "prod"})
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url).get("Tags"),
                         {"env": "prod", "team": "core"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url).get("Tags"), {"team": "core"})
        self.sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
        self.assertEqual(self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), {})

    def test_queue_url_host_is_ignored(self):
        # the queue is named by the last path segment of QueueUrl, whatever the host
        url = self.create("bq-otherhost")
        other = "http://sqs.example.invalid:1234/000000000000/bq-otherhost"
        self.sqs.send_message(QueueUrl=other, MessageBody="via other host")
        msgs = self.receive_n(url, 1)
        self.assertEqual([m["Body"] for m in msgs], ["via other host"])


class TestMessages(SqsCase):
    def test_send_receive_attributes_and_md5(self):
        url = self.create("bq-msg")
        t0 = time.time()
        r = self.sqs.send_message(QueueUrl=url, MessageBody="hello world",
                                  MessageAttributes=ATTRS)
        self.assertRegex(r["MessageId"], UUID_RE)
        self.assertEqual(r["MD5OfMessageBody"], "5eb63bbbe01eeed093cb22bb8f5acdc3")
        self.assertEqual(r["MD5OfMessageAttributes"], ATTRS_MD5)
        self.assertEqual(md5_of_attributes(ATTRS), ATTRS_MD5)  # our own helper agrees

        msgs = self.receive(url, 10, AttributeNames=["All"], MessageAttributeNames=["All"])
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m["MessageId"], r["MessageId"])
        self.assertEqual(m["Body"], "hello world")
        self.assertEqual(m["MessageAttributes"], ATTRS)
        self.assertEqual(m["MD5OfMessageAttributes"], ATTRS_MD5)
        a = m["Attributes"]
        self.assertEqual(a["ApproximateReceiveCount"], "1")
        self.assertLess(abs(int(a["SentTimestamp"]) / 1000.0 - t0), 300, a)
        self.assertLess(abs(int(a["ApproximateFirstReceiveTimestamp"]) / 1000.0 - t0), 300, a)
        self.assertGreaterEqual(int(a["ApproximateFirstReceiveTimestamp"]),
                                int(a["SentTimestamp"]))
        self.assertIn("SenderId", a)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def test_receive_only_requested_attributes(self):
        url = self.create("bq-msg-sel")
        self.sqs.send_message(QueueUrl=url, MessageBody="sel", MessageAttributes=ATTRS)
        m = self.receive(url, 1, AttributeNames=["SentTimestamp"],
                         MessageAttributeNames=["color"], VisibilityTimeout=0)[0]
        self.assertEqual(set(m.get("Attributes", {})), {"SentTimestamp"})
        self.assertEqual(m["MessageAttributes"], {"color": ATTRS["color"]})
        self.assertEqual(m["MD5OfMessageAttributes"],
                         md5_of_attributes({"color": ATTRS["color"]}))
        m = self.receive(url, 1, VisibilityTimeout=0)[0]
        self.assertNotIn("MessageAttributes", m)
        self.assertNotIn("Attributes", m)

    def test_system_attribute_trace_header(self):
        url = self.create("bq-trace")
        trace = "Root=1-5759e988-bd862e3fe1be46a994272793"
        self.sqs.send_message(QueueUrl=url, MessageBody="b", MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": trace}})
        m = self.receive(url, 1, AttributeNames=["All"])[0]
        self.assertEqual(m["Attributes"].get("AWSTraceHeader"), trace)

    def test_special_characters_round_trip(self):
        url = self.create("bq-special")
        bodies = [SPECIAL, "line1\r\nline2\r\n", "cr\ronly", "  lead and trail  \n",
                  "<xml attr=\"v\"> &amp; ]]> 'q' </xml>", "tab\there", "\u2028\ufffd\U0010ffff"]
        for b in bodies:
            r = self.sqs.send_message(QueueUrl=url, MessageBody=b)
            self.assertEqual(r["MD5OfMessageBody"], md5_hex(b), repr(b))
        got = self.receive_n(url, len(bodies))
        self.assertEqual(sorted(m["Body"] for m in got), sorted(bodies))

    def test_max_size_body_accepted(self):
        url = self.create("bq-bigbody")
        body = "x" * 262144
        r = self.sqs.send_message(QueueUrl=url, MessageBody=body)
        self.assertEqual(r["MD5OfMessageBody"], md5_hex(body))
        m = self.receive(url, 1)[0]
        self.assertEqual(m["Body"], body)

    def test_send_batch_with_one_failed_entry(self):
        url = self.create("bq-batch")
        entries = [
            {"Id": "ok1", "MessageBody": "one"},
            {"Id": "ok2", "MessageBody": "two", "MessageAttributes": {
                "k": {"DataType": "String", "StringValue": "v"}}},
            {"Id": "bad", "MessageBody": "bad \x01 char"},
            {"Id": "ok3", "MessageBody": SPECIAL, "DelaySeconds": 0},
        ]
        r = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        ok = {e["Id"]: e for e in r.get("Successful", [])}
        self.assertEqual(set(ok), {"ok1", "ok2", "ok3"}, r)
        self.assertEqual(ok["ok1"]["MD5OfMessageBody"], md5_hex("one"))
        self.assertEqual(ok["ok2"]["MD5OfMessageAttributes"], "0a77b0642718c3d9dd47090567d11e0d")
        self.assertEqual(ok["ok3"]["MD5OfMessageBody"], md5_hex(SPECIAL))
        self.assertNotIn("MD5OfMessageAttributes", ok["ok1"])
        for e in ok.values():
            self.assertRegex(e["MessageId"], UUID_RE)
        failed = r.get("Failed", [])
        self.assertEqual(len(failed), 1, r)
        self.assertEqual(failed[0]["Id"], "bad")
        self.assertEqual(failed[0]["Code"], "InvalidMessageContents")
        self.assertTrue(failed[0]["SenderFault"])
        got = self.receive_n(url, 3, MessageAttributeNames=["All"])
        self.assertEqual(sorted(m["Body"] for m in got), sorted(["one", "two", SPECIAL]))
        self.assertEqual(len(self.receive(url)), 0)

    def test_visibility_timeout(self):
        url = self.create("bq-vis", {"VisibilityTimeout": "1"})
        mid = self.sqs.send_message(QueueUrl=url, MessageBody="v")["MessageId"]
        first = self.receive(url, 1, AttributeNames=["All"])
        self.assertEqual([m["MessageId"] for m in first], [mid])
        self.assertEqual(self.receive(url), [])  # in flight: invisible
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessagesNotVisible")
                         ["ApproximateNumberOfMessagesNotVisible"], "1")
        time.sleep(1.5)
        again = self.receive(url, 1, AttributeNames=["All"])
        self.assertEqual([m["MessageId"] for m in again], [mid])
        self.assertEqual(again[0]["Attributes"]["ApproximateReceiveCount"], "2")

    def test_change_visibility(self):
        url = self.create("bq-chvis")
        mid = self.sqs.send_message(QueueUrl=url, MessageBody="c")["MessageId"]
        m = self.receive(url, 1)[0]
        self.assertEqual(self.receive(url), [])
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                           VisibilityTimeout=0)
        m2 = self.receive(url, 1, AttributeNames=["ApproximateReceiveCount"])
        self.assertEqual([x["MessageId"] for x in m2], [mid])
        self.assertEqual(m2[0]["Attributes"]["ApproximateReceiveCount"], "2")
        # and longer: stays hidden past the queue's default
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m2[0]["ReceiptHandle"],
                                           VisibilityTimeout=600)
        self.assertEqual(self.receive(url), [])

    def test_change_visibility_batch(self):
        url = self.create("bq-chvisb")
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="b%d" % i)
        msgs = self.receive_n(url, 3, VisibilityTimeout=30)
        self.assertEqual(len(msgs), 3)
        r = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "e%d" % i, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(msgs)])
        self.assertEqual(sorted(e["Id"] for e in r.get("Successful", [])), ["e0", "e1", "e2"])
        self.assertEqual(r.get("Failed", []), [])
        again = self.receive_n(url, 3)
        self.assertEqual(sorted(m["Body"] for m in again), ["b0", "b1", "b2"])

    def test_delete_and_delete_batch(self):
        url = self.create("bq-del", {"VisibilityTimeout": "1"})
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="d%d" % i)
        msgs = self.receive_n(url, 3)
        self.assertEqual(len(msgs), 3)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
        r = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": "x%d" % i, "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(msgs[1:])])
        self.assertEqual(sorted(e["Id"] for e in r.get("Successful", [])), ["x0", "x1"])
        self.assertEqual(r.get("Failed", []), [])
        a = self.attrs(url)
        self.assertEqual(a["ApproximateNumberOfMessages"], "0")
        self.assertEqual(a["ApproximateNumberOfMessagesNotVisible"], "0")
        time.sleep(1.3)  # past the visibility timeout: deleted ones stay gone
        self.assertEqual(self.receive(url), [])

    def test_delay_seconds(self):
        url = self.create("bq-delay")
        mid = self.sqs.send_message(QueueUrl=url, MessageBody="late",
                                    DelaySeconds=1)["MessageId"]
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessagesDelayed")
                         ["ApproximateNumberOfMessagesDelayed"], "1")
        time.sleep(1.2)
        got = self.receive_n(url, 1)
        self.assertEqual([m["MessageId"] for m in got], [mid])

    def test_queue_delay_seconds(self):
        url = self.create("bq-qdelay", {"DelaySeconds": "1"})
        self.sqs.send_message(QueueUrl=url, MessageBody="q-late")
        self.assertEqual(self.receive(url), [])
        time.sleep(1.2)
        self.assertEqual([m["Body"] for m in self.receive_n(url, 1)], ["q-late"])

    def test_purge(self):
        url = self.create("bq-purge")
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="p%d" % i)
        self.sqs.purge_queue(QueueUrl=url)
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages")
                         ["ApproximateNumberOfMessages"], "0")


class TestFifo(SqsCase):
    def test_order_groups_and_inflight(self):
        url = self.create("bq-order.fifo", {"FifoQueue": "true"})
        self.assertEqual(self.attrs(url, "FifoQueue")["FifoQueue"], "true")
        seqs = []
        for body, group in (("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B")):
            r = self.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group,
                                      MessageDeduplicationId="dd-" + body)
            self.assertEqual(r["MD5OfMessageBody"], md5_hex(body))
            self.assertRegex(r["SequenceNumber"], r"^[0-9]+$")
            seqs.append(int(r["SequenceNumber"]))
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 4)

        first = self.receive(url, 1, AttributeNames=["All"])
        self.assertEqual([m["Body"] for m in first], ["a1"])
        a = first[0]["Attributes"]
        self.assertEqual(a["MessageGroupId"], "A")
        self.assertEqual(a["MessageDeduplicationId"], "dd-a1")
        self.assertEqual(int(a["SequenceNumber"]), seqs[0])
        # group A is blocked while a1 is in flight; group B is not
        second = self.receive(url, 10)
        self.assertEqual([m["Body"] for m in second], ["b1"])
        self.assertEqual(self.receive(url, 10), [])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        rest = self.receive_n(url, 2)
        self.assertEqual([m["Body"] for m in rest], ["a2", "a3"])

    def test_dedup_id(self):
        url = self.create("bq-dedup.fifo", {"FifoQueue": "true"})
        r1 = self.sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g",
                                   MessageDeduplicationId="same")
        r2 = self.sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g",
                                   MessageDeduplicationId="same")
        self.assertEqual(r1["MessageId"], r2["MessageId"])
        got = self.receive(url, 10)
        self.assertEqual([m["MessageId"] for m in got], [r1["MessageId"]])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        # still within 5 minutes: a resend after delete is also dropped
        r3 = self.sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g",
                                   MessageDeduplicationId="same")
        self.assertEqual(r3["MessageId"], r1["MessageId"])
        self.assertEqual(self.receive(url, 10), [])

    def test_content_based_dedup(self):
        url = self.create("bq-cbd.fifo", {"FifoQueue": "true",
                                          "ContentBasedDeduplication": "true"})
        self.assertEqual(self.attrs(url, "ContentBasedDeduplication")
                         ["ContentBasedDeduplication"], "true")
        r1 = self.sqs.send_message(QueueUrl=url, MessageBody="same body", MessageGroupId="g")
        r2 = self.sqs.send_message(QueueUrl=url, MessageBody="same body", MessageGroupId="g")
        r3 = self.sqs.send_message(QueueUrl=url, MessageBody="other body", MessageGroupId="g")
        self.assertEqual(r1["MessageId"], r2["MessageId"])
        self.assertNotEqual(r1["MessageId"], r3["MessageId"])
        got = self.receive_n(url, 2, AttributeNames=["All"])
        self.assertEqual([m["Body"] for m in got], ["same body", "other body"])
        import hashlib
        self.assertEqual(got[0]["Attributes"]["MessageDeduplicationId"],
                         hashlib.sha256(b"same body").hexdigest())

    def test_fifo_send_errors(self):
        url = self.create("bq-ferr.fifo", {"FifoQueue": "true"})
        with self.assertRaises(ClientError) as cm:
            self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
        self.assertIn(err(cm.exception), {("MissingParameter", 400),
                                          ("InvalidParameterValue", 400)})
        with self.assertRaises(ClientError) as cm:  # no dedup id, no content-based dedup
            self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
        self.assertIn(err(cm.exception), {("MissingParameter", 400),
                                          ("InvalidParameterValue", 400)})
        with self.assertRaises(ClientError) as cm:  # per-message delay not allowed on FIFO
            self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g",
                                  MessageDeduplicationId="d2", DelaySeconds=1)
        self.assertEqual(err(cm.exception), ("InvalidParameterValue", 400))
        self.assertEqual(self.receive(url), [])


class TestRedrive(SqsCase):
    def test_dead_letter_after_max_receives(self):
        dlq = self.create("bq-dlq")
        dlq_arn = self.attrs(dlq, "QueueArn")["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
        src = self.create("bq-src", {"VisibilityTimeout": "1", "RedrivePolicy": policy})
        got = json.loads(self.attrs(src, "RedrivePolicy")["RedrivePolicy"])
        self.assertEqual(got["deadLetterTargetArn"], dlq_arn)
        self.assertEqual(int(got["maxReceiveCount"]), 2)

        mid = self.sqs.send_message(QueueUrl=src, MessageBody="poison",
                                    MessageAttributes=ATTRS)["MessageId"]
        for n in (1, 2):
            m = self.receive(src, 1, AttributeNames=["All"])
            self.assertEqual([x["MessageId"] for x in m], [mid], "receive #%d" % n)
            self.assertEqual(m[0]["Attributes"]["ApproximateReceiveCount"], str(n))
            time.sleep(1.3)
        self.assertEqual(self.receive(src, 10), [], "third receive must find it gone")
        moved = self.receive_n(dlq, 1, MessageAttributeNames=["All"])
        self.assertEqual(len(moved), 1)
        self.assertEqual(moved[0]["Body"], "poison")
        self.assertEqual(moved[0]["MessageAttributes"], ATTRS)
        r = self.sqs.list_dead_letter_source_queues(QueueUrl=dlq)
        self.assertEqual(r.get("queueUrls"), [src])
        r = self.sqs.list_dead_letter_source_queues(QueueUrl=src)
        self.assertEqual(r.get("queueUrls", []), [])


class TestLongPoll(SqsCase):
    def test_long_poll_wakes_on_send(self):
        url = self.create("bq-lp")
        sender = client()

        def send_later():
            time.sleep(0.5)
            sender.send_message(QueueUrl=url, MessageBody="woke")

        t = threading.Thread(target=send_later)
        t0 = time.monotonic()
        t.start()
        try:
            msgs = self.receive(url, 1, WaitTimeSeconds=5)
        finally:
            t.join()
        elapsed = time.monotonic() - t0
        self.assertEqual([m["Body"] for m in msgs], ["woke"])
        self.assertLess(elapsed, 4.5, "long poll should return before its 5 s wait ended")

    def test_empty_long_poll_waits(self):
        url = self.create("bq-lp-empty")
        t0 = time.monotonic()
        self.assertEqual(self.receive(url, 1, WaitTimeSeconds=1), [])
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.8, "empty long poll returned without waiting")
        self.assertLess(elapsed, 10)

    def test_queue_default_wait(self):
        url = self.create("bq-lp-q", {"ReceiveMessageWaitTimeSeconds": "1"})
        t0 = time.monotonic()
        r = self.sqs.receive_message(QueueUrl=url)
        self.assertEqual(r.get("Messages", []), [])
        self.assertGreaterEqual(time.monotonic() - t0, 0.8,
                                "queue ReceiveMessageWaitTimeSeconds=1 not applied")


if __name__ == "__main__":
    broker.main(sys.modules[__name__])

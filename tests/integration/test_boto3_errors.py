#!/usr/bin/python3
"""SQS error cases, each in its protocol's own shape, plus bad input on the wire.

boto3 1.26 (query protocol) checks codes and HTTP status the way applications
do; raw HTTP covers what botocore will not send (missing parameters, unknown
actions, malformed bodies) and the JSON 1.0 error shape. At the end the broker
must still be alive and a message stored before the abuse must come back intact.

Usage: /usr/bin/python3 test_boto3_errors.py BUILD_DIR [REPO_DIR]
"""

import json
import os
import random
import socket
import sys
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
from broker import md5_hex, parse_xml, query_error  # noqa: E402

BROKER = None  # set by broker.main()
NONEXISTENT = "AWS.SimpleQueueService.NonExistentQueue"
PRECIOUS = {"body": "precious ✓ \r\n <&> 😀",
            "attrs": {"k": {"DataType": "String", "StringValue": "v"},
                      "b": {"DataType": "Binary", "BinaryValue": b"\xff\x00"}}}


def client():
    return boto3.client(
        "sqs", endpoint_url=BROKER.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5,
                      read_timeout=30))


def setUpModule():
    sqs = client()
    url = sqs.create_queue(QueueName="precious")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=PRECIOUS["body"],
                     MessageAttributes=PRECIOUS["attrs"])
    sqs.create_queue(QueueName="err-q")


class ErrCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sqs = client()
        cls.url = BROKER.queue_url("err-q")

    def expect(self, code, fn, status=400, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        e = cm.exception
        got = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        self.assertEqual(got, (code, status), e.response)
        return e

    def raw_query(self, params, status=400, code=None):
        """POST a query request; check the XML ErrorResponse; return its Code."""
        st, hdr, body = BROKER.post_query(params)
        self.assertEqual(st, status, body[:500])
        typ, got, msg = query_error(body)
        self.assertTrue(got, body[:500])
        self.assertIsNotNone(msg, body[:500])
        self.assertEqual(typ, "Sender", body[:500])
        if code is not None:
            self.assertEqual(got, code, body[:500])
        return got

    def raw_json(self, op, payload, status=400, type_suffix=None, query_code=None):
        """POST a JSON 1.0 request; check the JSON error; return (__type, header)."""
        st, hdr, body = BROKER.post_json(op, payload)
        self.assertEqual(st, status, body[:500])
        doc = json.loads(body)
        self.assertIsInstance(doc, dict, body[:500])
        self.assertIn("__type", doc, body[:500])
        self.assertTrue(doc.get("message") or doc.get("Message"), body[:500])
        if type_suffix is not None:
            self.assertEqual(doc["__type"].split("#")[-1], type_suffix, body[:500])
        if query_code is not None:
            self.assertEqual(hdr.get("x-amzn-query-error"), query_code + ";Sender", hdr)
        return doc["__type"], hdr.get("x-amzn-query-error")


class TestQueryErrors(ErrCase):
    def test_nonexistent_queue(self):
        e = self.expect(NONEXISTENT, self.sqs.get_queue_url, QueueName="nope")
        self.assertIsInstance(e, self.sqs.exceptions.QueueDoesNotExist)
        nope = BROKER.queue_url("nope")
        for fn, kw in ((self.sqs.send_message, {"MessageBody": "x"}),
                       (self.sqs.receive_message, {}),
                       (self.sqs.get_queue_attributes, {"AttributeNames": ["All"]}),
                       (self.sqs.purge_queue, {}),
                       (self.sqs.delete_queue, {})):
            with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist):
                fn(QueueUrl=nope, **kw)
        # the raw shape
        st, _, body = BROKER.post_query({"Action": "GetQueueUrl", "Version": "2012-11-05",
                                         "QueueName": "nope"})
        self.assertEqual(st, 400)
        root = parse_xml(body)
        self.assertEqual(root.tag, "ErrorResponse")
        self.assertEqual(root.findtext("Error/Code"), NONEXISTENT)
        self.assertEqual(root.findtext("Error/Type"), "Sender")
        self.assertTrue(root.findtext("RequestId"))

    def test_invalid_queue_name(self):
        for name in ("bad name", "bad!", "x" * 81, "ünï"):
            self.expect("InvalidParameterValue", self.sqs.create_queue, QueueName=name)
        self.expect("InvalidParameterValue", self.sqs.create_queue, QueueName="notfifo",
                    Attributes={"FifoQueue": "true"})
        self.expect("InvalidParameterValue", self.sqs.create_queue, QueueName="x.fifo")

    def test_queue_already_exists(self):
        self.sqs.create_queue(QueueName="err-exists", Attributes={"DelaySeconds": "1"})
        e = self.expect("QueueAlreadyExists", self.sqs.create_queue, QueueName="err-exists",
                        Attributes={"DelaySeconds": "2"})
        self.assertIsInstance(e, self.sqs.exceptions.QueueNameExists)

    def test_missing_parameter(self):
        self.raw_query({"Action": "SendMessage", "Version": "2012-11-05",
                        "QueueUrl": self.url}, code="MissingParameter")
        self.raw_query({"Action": "CreateQueue", "Version": "2012-11-05"},
                       code="MissingParameter")
        self.raw_query({"Action": "DeleteMessage", "Version": "2012-11-05",
                        "QueueUrl": self.url}, code="MissingParameter")

    def test_message_too_long(self):
        self.expect("InvalidParameterValue", self.sqs.send_message, QueueUrl=self.url,
                    MessageBody="x" * 262145)
        small = self.sqs.create_queue(QueueName="err-small",
                                      Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
        self.sqs.send_message(QueueUrl=small, MessageBody="y" * 1024)
        self.expect("InvalidParameterValue", self.sqs.send_message, QueueUrl=small,
                    MessageBody="y" * 1025)

    def test_invalid_message_contents(self):
        self.expect("InvalidMessageContents", self.sqs.send_message, QueueUrl=self.url,
                    MessageBody="bad \x01 byte")
        self.expect("InvalidMessageContents", self.sqs.send_message, QueueUrl=self.url,
                    MessageBody="bad \ufffe char")

    def test_invalid_attribute_name(self):
        self.expect("InvalidAttributeName", self.sqs.set_queue_attributes,
                    QueueUrl=self.url, Attributes={"Bogus": "1"})
        self.expect("InvalidAttributeName", self.sqs.get_queue_attributes,
                    QueueUrl=self.url, AttributeNames=["Bogus"])

    def test_invalid_attribute_value(self):
        # SQS answers a bad queue attribute value with InvalidAttributeValue (the
        # code of the modern model); InvalidParameterValue is the older spelling.
        codes = ("InvalidAttributeValue", "InvalidParameterValue")
        for attrs in ({"VisibilityTimeout": "43201"}, {"VisibilityTimeout": "soon"},
                      {"MessageRetentionPeriod": "59"}, {"RedrivePolicy": "{not json"},
                      {"RedrivePolicy": '{"maxReceiveCount": "2"}'}):
            self.expect_bad_attributes(attrs, codes)

    def test_redrive_target_must_exist(self):
        # SQS: "Value ... for parameter RedrivePolicy is invalid. Reason: Dead letter
        # target does not exist."
        self.expect_bad_attributes({"RedrivePolicy": json.dumps({
            "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:no-such-dlq",
            "maxReceiveCount": "2"})}, ("InvalidParameterValue", "InvalidAttributeValue"))

    def expect_bad_attributes(self, attrs, codes):
        for fn, kw in ((self.sqs.set_queue_attributes, {"QueueUrl": self.url}),
                       (self.sqs.create_queue, {"QueueName": "err-badattr"})):
            with self.assertRaises(ClientError, msg="%s %r" % (fn.__name__, attrs)) as cm:
                fn(Attributes=attrs, **kw)
            r = cm.exception.response
            self.assertIn(r["Error"]["Code"], codes, (attrs, r))
            self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 400)
        # the queue kept its settings and the failed create made no queue
        a = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])
        self.assertEqual(a["Attributes"]["VisibilityTimeout"], "30")
        self.assertNotIn("RedrivePolicy", a["Attributes"])
        with self.assertRaises(self.sqs.exceptions.QueueDoesNotExist):
            self.sqs.get_queue_url(QueueName="err-badattr")

    def test_parameter_ranges(self):
        for n in (0, 11):
            self.expect("InvalidParameterValue", self.sqs.receive_message,
                        QueueUrl=self.url, MaxNumberOfMessages=n)
        self.expect("InvalidParameterValue", self.sqs.receive_message,
                    QueueUrl=self.url, WaitTimeSeconds=21)
        self.expect("InvalidParameterValue", self.sqs.send_message, QueueUrl=self.url,
                    MessageBody="x", DelaySeconds=901)

    def test_batch_errors(self):
        entries = [{"Id": "e%d" % i, "MessageBody": "b"} for i in range(11)]
        e = self.expect("AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                        self.sqs.send_message_batch, QueueUrl=self.url, Entries=entries)
        self.assertIsInstance(e, self.sqs.exceptions.TooManyEntriesInBatchRequest)
        self.expect("AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                    self.sqs.send_message_batch, QueueUrl=self.url,
                    Entries=[{"Id": "same", "MessageBody": "1"},
                             {"Id": "same", "MessageBody": "2"}])
        self.expect("AWS.SimpleQueueService.InvalidBatchEntryId",
                    self.sqs.send_message_batch, QueueUrl=self.url,
                    Entries=[{"Id": "a b", "MessageBody": "1"}])
        self.expect("AWS.SimpleQueueService.InvalidBatchEntryId",
                    self.sqs.delete_message_batch, QueueUrl=self.url,
                    Entries=[{"Id": "x" * 81, "ReceiptHandle": "rh"}])
        # A repeat further on than the next entry; the longest id allowed (80).
        self.expect("AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                    self.sqs.send_message_batch, QueueUrl=self.url,
                    Entries=[{"Id": i, "MessageBody": "1"} for i in ("a", "b", "c", "b")])
        other = self.sqs.create_queue(QueueName="batch-ids-ok")["QueueUrl"]
        ok = self.sqs.send_message_batch(QueueUrl=other, Entries=[
            {"Id": "A-z_9" + "x" * 75, "MessageBody": "1"}, {"Id": "-", "MessageBody": "2"}])
        self.assertEqual(sorted(e["Id"] for e in ok["Successful"]), ["-", "A-z_9" + "x" * 75])
        big = [{"Id": "e%d" % i, "MessageBody": "z" * 30000} for i in range(10)]
        self.expect("AWS.SimpleQueueService.BatchRequestTooLong",
                    self.sqs.send_message_batch, QueueUrl=self.url, Entries=big)
        self.expect("AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                    self.sqs.delete_message_batch, QueueUrl=self.url,
                    Entries=[{"Id": "d%d" % i, "ReceiptHandle": "rh"} for i in range(11)])
        for action in ("SendMessageBatch", "DeleteMessageBatch",
                       "ChangeMessageVisibilityBatch"):
            self.raw_query({"Action": action, "Version": "2012-11-05", "QueueUrl": self.url},
                           code="AWS.SimpleQueueService.EmptyBatchRequest")
        # nothing of the rejected batches was stored
        r = self.sqs.get_queue_attributes(QueueUrl=self.url,
                                          AttributeNames=["ApproximateNumberOfMessages"])
        self.assertEqual(r["Attributes"]["ApproximateNumberOfMessages"], "0")

    def test_invalid_receipt_handle(self):
        e = self.expect("ReceiptHandleIsInvalid", self.sqs.delete_message,
                        QueueUrl=self.url, ReceiptHandle="garbage")
        self.assertIsInstance(e, self.sqs.exceptions.ReceiptHandleIsInvalid)
        self.expect("ReceiptHandleIsInvalid", self.sqs.change_message_visibility,
                    QueueUrl=self.url, ReceiptHandle="garbage", VisibilityTimeout=0)
        r = self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
            {"Id": "a", "ReceiptHandle": "garbage-1"}])
        self.assertEqual(r.get("Successful", []), [])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in r["Failed"]],
                         [("a", "ReceiptHandleIsInvalid", True)])

    def test_unknown_action(self):
        self.raw_query({"Action": "Nope", "Version": "2012-11-05"}, code="InvalidAction")

    def test_bad_queue_url(self):
        for url in ("", "not a url", "http://h/", "http://h/000000000000/"):
            st, _, body = BROKER.post_query({"Action": "SendMessage", "Version": "2012-11-05",
                                             "QueueUrl": url, "MessageBody": "x"})
            self.assertEqual(st, 400, (url, body[:300]))
            query_error(body)


class TestJsonErrors(ErrCase):
    def test_nonexistent_queue(self):
        self.raw_json("GetQueueUrl", {"QueueName": "nope"},
                      type_suffix="QueueDoesNotExist", query_code=NONEXISTENT)
        t, _ = self.raw_json("SendMessage", {"QueueUrl": BROKER.queue_url("nope"),
                                             "MessageBody": "x"},
                             type_suffix="QueueDoesNotExist", query_code=NONEXISTENT)
        self.assertEqual(t, "com.amazonaws.sqs#QueueDoesNotExist")
        st, hdr, _ = BROKER.post_json("GetQueueUrl", {"QueueName": "nope"})
        self.assertIn("json", hdr.get("content-type", ""))

    def test_modeled_errors(self):
        self.raw_json("CreateQueue", {"QueueName": "err-q",
                                      "Attributes": {"VisibilityTimeout": "7"}},
                      type_suffix="QueueNameExists", query_code="QueueAlreadyExists")
        self.raw_json("DeleteMessage", {"QueueUrl": self.url, "ReceiptHandle": "garbage"},
                      type_suffix="ReceiptHandleIsInvalid", query_code="ReceiptHandleIsInvalid")
        self.raw_json("ReceiveMessage", {"QueueUrl": self.url, "MaxNumberOfMessages": 11},
                      type_suffix="InvalidParameterValue", query_code="InvalidParameterValue")
        self.raw_json("SendMessage", {"QueueUrl": self.url},
                      type_suffix="MissingParameter", query_code="MissingParameter")
        self.raw_json("SetQueueAttributes", {"QueueUrl": self.url,
                                             "Attributes": {"Bogus": "1"}},
                      type_suffix="InvalidAttributeName", query_code="InvalidAttributeName")
        self.raw_json("SendMessage", {"QueueUrl": self.url, "MessageBody": "\u0001"},
                      type_suffix="InvalidMessageContents", query_code="InvalidMessageContents")
        self.raw_json("SendMessageBatch", {"QueueUrl": self.url, "Entries": [
            {"Id": "e%d" % i, "MessageBody": "b"} for i in range(11)]},
            type_suffix="TooManyEntriesInBatchRequest",
            query_code="AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
        self.raw_json("SendMessageBatch", {"QueueUrl": self.url, "Entries": []},
                      type_suffix="EmptyBatchRequest",
                      query_code="AWS.SimpleQueueService.EmptyBatchRequest")
        self.raw_json("DeleteMessageBatch", {"QueueUrl": self.url, "Entries": [
            {"Id": "a", "ReceiptHandle": "1"}, {"Id": "a", "ReceiptHandle": "2"}]},
            type_suffix="BatchEntryIdsNotDistinct",
            query_code="AWS.SimpleQueueService.BatchEntryIdsNotDistinct")

    def test_unknown_operation(self):
        self.raw_json("Nope", {}, type_suffix="UnknownOperationException")

    def test_malformed_json(self):
        for body in (b'{"QueueUrl": ', b"[1, 2]", b"null", b"\x00\xff\xfe junk",
                     b'{"QueueUrl": 5, "MessageBody": {}}',
                     b'{"QueueUrl": "%s", "MessageBody": "lone \\ud83d surrogate"}'
                     % self.url.encode(),
                     b'{"QueueName": "a\\u0000b"}', b"{" * 10000):
            st, hdr, data = BROKER.post_json("SendMessage", body)
            self.assertEqual(st, 400, (body[:60], data[:300]))
            doc = json.loads(data)
            self.assertIn("__type", doc, (body[:60], data[:300]))

    def test_empty_json_body(self):
        st, _, data = BROKER.post_json("ListQueues", b"")
        # an empty body is either taken as {} or refused as a JSON error
        self.assertIn(st, (200, 400), data[:300])
        json.loads(data) if data else None


class TestWireAbuse(ErrCase):
    def expect_query_error_or_4xx(self, body, headers=None):
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        hdrs.update(headers or {})
        st, _, data = BROKER.post(body, hdrs)
        self.assertTrue(400 <= st < 500, (body[:80], st, data[:300]))
        if data:
            query_error(data)

    def test_bad_form_bodies(self):
        q = b"Action=SendMessage&Version=2012-11-05&QueueUrl=" + self.url.encode()
        r = b"Action=ReceiveMessage&Version=2012-11-05&QueueUrl=" + self.url.encode()
        for body in (b"Action=ListQueues&Version=2012-11-05&QueueNamePrefix=%zz",
                     b"Action=SendMessage&Version=2012-11-05&QueueUrl=%",
                     q + b"&MessageBody=%F",
                     q + b"&MessageBody=%FF%FE",
                     b"", b"&&&===&&", b"Action", b"Action=&Version=",
                     r + b"&MaxNumberOfMessages=99999999999999999999",
                     r + b"&MaxNumberOfMessages=-1",
                     r + b"&VisibilityTimeout=1e3",
                     bytes(range(256))):
            self.expect_query_error_or_4xx(body)

    def test_odd_but_wellformed_forms(self):
        # nothing to insist on beyond "an answer, not a crash, not a 5xx"
        b = b"Action=SendMessageBatch&Version=2012-11-05&QueueUrl=" + self.url.encode()
        for body in (b + b"&SendMessageBatchRequestEntry.99999999999.Id=a",
                     b + b"&SendMessageBatchRequestEntry.-1.Id=a",
                     b + b"&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry."
                         b"1.Id=b&SendMessageBatchRequestEntry.1.MessageBody=x",
                     b"Action=ListQueues&Version=2012-11-05&" + b"a=b&" * 5000,
                     b"Action=ListQueues&Action=Nope&Version=2012-11-05"):
            st, _, data = BROKER.post(body, {"Content-Type":
                                             "application/x-www-form-urlencoded"})
            self.assertLess(st, 500, (body[:100], data[:300]))
            if data:
                parse_xml(data)

    def test_binary_junk_bodies(self):
        rnd = random.Random(1234)
        for i in range(20):
            junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4096)))
            st, _, data = BROKER.post(junk, {"Content-Type": "application/octet-stream"})
            self.assertTrue(400 <= st < 500, (i, st, data[:200]))
            st, _, data = BROKER.post_json("SendMessage", junk)
            self.assertEqual(st, 400, (i, data[:200]))

    def raw_socket(self, data, shut=True, timeout=5.0):
        """Send raw bytes; return what came back (b"" if closed, None on timeout)."""
        s = socket.create_connection(("127.0.0.1", BROKER.port), timeout=timeout)
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out
                out += chunk
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return b""
        finally:
            s.close()

    def assert_not_5xx(self, reply, what):
        if reply and reply.startswith(b"HTTP/"):
            status = int(reply.split(b" ", 2)[1])
            self.assertLess(status, 500, (what, reply[:300]))

    def test_content_length_mismatch(self):
        body = b"Action=ListQueues&Version=2012-11-05"
        # promises more than it sends, then closes its side
        r = self.raw_socket(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: "
                            b"application/x-www-form-urlencoded\r\nContent-Length: 100000"
                            b"\r\n\r\n" + body)
        self.assert_not_5xx(r, "short body")
        # a huge Content-Length must not be allocated up front
        r = self.raw_socket(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                            b"1099511627776\r\n\r\n" + body)
        self.assert_not_5xx(r, "huge length")
        r = self.raw_socket(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n" + body)
        self.assert_not_5xx(r, "negative length")
        # sends more than it promises: the rest is a second, broken request
        r = self.raw_socket(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: "
                            b"application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\n"
                            + body)
        self.assert_not_5xx(r, "long body")

    def test_not_http(self):
        rnd = random.Random(99)
        for i in range(10):
            junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 2048)))
            self.assert_not_5xx(self.raw_socket(junk), "junk %d" % i)
        self.assert_not_5xx(self.raw_socket(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n"),
                            "long url")
        self.assert_not_5xx(self.raw_socket(b"POST / HTTP/1.1\r\nX: " + b"h" * 100000 +
                                            b"\r\n\r\n"), "long header")
        # a client that connects and says nothing, then goes away
        s = socket.create_connection(("127.0.0.1", BROKER.port), timeout=5)
        s.close()
        # half a request line, then close
        self.assert_not_5xx(self.raw_socket(b"POST / HT"), "half line")

    def test_other_methods_and_paths(self):
        for method, path in (("GET", "/"), ("PUT", "/"), ("DELETE", "/x"),
                             ("GET", "/%zz"), ("POST", "/../../etc/passwd")):
            st, _, data = BROKER.post(b"", {}, path=path, method=method)
            # 501 is the HTTP answer to a method a server does not implement
            ok = st < 500 or (st == 501 and method not in ("GET", "POST"))
            self.assertTrue(ok, (method, path, st, data[:200]))


class TestZzSurvivor(ErrCase):
    """Runs last (unittest sorts classes by name)."""

    def test_broker_alive_and_data_intact(self):
        time.sleep(0.2)
        self.assertTrue(BROKER.alive(), "sluiced died")
        self.assertTrue(BROKER.healthz(), "healthz no longer 200")
        r = self.sqs.receive_message(QueueUrl=BROKER.queue_url("precious"),
                                     MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                     AttributeNames=["All"])
        msgs = r.get("Messages", [])
        self.assertEqual(len(msgs), 1, r)
        m = msgs[0]
        self.assertEqual(m["Body"], PRECIOUS["body"])
        self.assertEqual(m["MD5OfBody"], md5_hex(PRECIOUS["body"]))
        self.assertEqual(m["MessageAttributes"], PRECIOUS["attrs"])
        self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")


if __name__ == "__main__":
    broker.main(sys.modules[__name__])

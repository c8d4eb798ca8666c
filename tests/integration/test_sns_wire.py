#!/usr/bin/python3
"""Bad input on the SNS wire, sent as hand-built query requests (boto3 and the aws
CLI validate much of this on the client side, so only raw requests reach the
broker's own checks): missing and unknown actions, missing parameters, malformed
ARNs, topic names, message sizes in UTF-8 bytes with attributes, invalid UTF-8,
message attributes, MessageStructure=json, PublishBatch, FIFO rules, topic and
subscription attributes, nonexistent objects, subscriber GETs with garbage, and
bodies that are not forms at all.

Each request must get SNS's error shape (ErrorResponse with Type, Code, Message
and a RequestId) with the HTTP status SNS uses, and after every test the broker
must still be running with the topics, the subscription and the delivered
message made in setUpClass untouched. Runs on every store (conformance).

Usage: /usr/bin/python3 test_sns_wire.py BUILD_DIR [REPO_DIR]
"""

import base64
import json
import os
import socket
import sys
import unittest
import xml.etree.ElementTree as ET
from urllib.parse import quote, quote_from_bytes

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import broker  # noqa: E402
from broker import ACCOUNT, parse_xml, wait_until  # noqa: E402

BROKER = None  # set by broker.main()
REDIS = None
SNS_VERSION = "2010-03-31"
SQS_VERSION = "2012-11-05"
SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"
REGION = "us-east-1"
KIB256 = 256 * 1024
# one sample line of the Prometheus text format
METRIC_LINE = (r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]+="[^"\\\n]*",?)*\})?'
               r' [-+0-9.eEinfNa]+$')


def topic_arn(name):
    return "arn:aws:sns:%s:%s:%s" % (REGION, ACCOUNT, name)


def enc(v):
    """Percent-encodes a str (as UTF-8) or bytes (as they are)."""
    if isinstance(v, bytes):
        return quote_from_bytes(v, safe="")
    return quote(v, safe="")


def form(pairs):
    """A form body from (key, value) pairs; keys and values are str or bytes."""
    return "&".join("%s=%s" % (enc(k), enc(v)) for k, v in pairs)


def sns(action, *pairs, version=SNS_VERSION, **kw):
    """POSTs an SNS query request; pairs are (key, value). Returns (status, headers, body)."""
    head = [("Action", action)] if action is not None else []
    if version is not None:
        head.append(("Version", version))
    return BROKER.post_query(form(head + list(pairs)), **kw)


def ok_result(test, resp, op):
    """The <OpResult> element of a 200 reply."""
    status, _, body = resp
    test.assertEqual(status, 200, body[:500])
    root = parse_xml(body)
    test.assertEqual(root.tag, op + "Response", body[:300])
    res = root.find(op + "Result")
    return res if res is not None else ET.Element(op + "Result")


def attr_pairs(prefix, attrs):
    """MessageAttributes.entry.N.* pairs from [(name, type, value)]."""
    out = []
    for i, (name, typ, val) in enumerate(attrs, 1):
        p = "%s.entry.%d." % (prefix, i)
        out.append((p + "Name", name))
        if typ is not None:
            out.append((p + "Value.DataType", typ))
        if val is not None:
            key = "Value.BinaryValue" if typ and typ.startswith("Binary") else "Value.StringValue"
            out.append((p + key, val))
    return out


class SnsWireTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        print("store: %s" % ("redis " + REDIS.url if REDIS else "memory"), file=sys.stderr)
        cls.keep = "wire-keep"
        cls.keep_arn = cls.create_topic(cls.keep)
        cls.keep_fifo = "wire-keep.fifo"
        cls.keep_fifo_arn = cls.create_topic(cls.keep_fifo, ("Attributes.entry.1.key", "FifoTopic"),
                                             ("Attributes.entry.1.value", "true"))
        # Where accepted publishes go: no subscriptions, so the kept queue stays as it is.
        cls.scratch_arn = cls.create_topic("wire-scratch")
        cls.scratch_fifo_arn = cls.create_topic(
            "wire-scratch.fifo", ("Attributes.entry.1.key", "FifoTopic"),
            ("Attributes.entry.1.value", "true"))
        s, _, b = BROKER.post_query(form([("Action", "CreateQueue"), ("Version", SQS_VERSION),
                                          ("QueueName", "wire-keep-q")]))
        assert s == 200, b
        cls.queue_url = parse_xml(b).findtext(".//QueueUrl")
        s, _, b = sns("Subscribe", ("TopicArn", cls.keep_arn), ("Protocol", "sqs"),
                      ("Endpoint", "arn:aws:sqs:%s:%s:wire-keep-q" % (REGION, ACCOUNT)),
                      ("ReturnSubscriptionArn", "true"))
        assert s == 200, b
        cls.sub_arn = parse_xml(b).findtext(".//SubscriptionArn")
        s, _, b = sns("Publish", ("TopicArn", cls.keep_arn), ("Message", "keep me"))
        assert s == 200, b
        wait_until(lambda: cls.queue_counts() == (1, 0), what="the kept message in the queue")

    @classmethod
    def create_topic(cls, name, *attrs):
        s, _, b = sns("CreateTopic", ("Name", name), *attrs)
        assert s == 200, b
        return parse_xml(b).findtext(".//TopicArn")

    @classmethod
    def queue_counts(cls):
        s, _, b = BROKER.post_query(form([
            ("Action", "GetQueueAttributes"), ("Version", SQS_VERSION), ("QueueUrl", cls.queue_url),
            ("AttributeName.1", "ApproximateNumberOfMessages"),
            ("AttributeName.2", "ApproximateNumberOfMessagesNotVisible")]))
        assert s == 200, b
        attrs = {a.findtext("Name"): a.findtext("Value")
                 for a in parse_xml(b).iter("Attribute")}
        return (int(attrs["ApproximateNumberOfMessages"]),
                int(attrs["ApproximateNumberOfMessagesNotVisible"]))

    def tearDown(self):
        self.assert_intact()

    # ---- checks ----

    def assert_intact(self):
        """The broker runs, and what setUpClass made is all still there."""
        self.assertTrue(BROKER.alive(), "sluiced died")
        self.assertTrue(BROKER.healthz(), "sluiced does not answer /healthz")
        res = ok_result(self, sns("ListTopics"), "ListTopics")
        arns = {m.findtext("TopicArn") for m in res.iter("member")}
        for arn in (self.keep_arn, self.keep_fifo_arn, self.scratch_arn, self.scratch_fifo_arn):
            self.assertIn(arn, arns)
        res = ok_result(self, sns("GetTopicAttributes", ("TopicArn", self.keep_arn)),
                        "GetTopicAttributes")
        attrs = {e.findtext("key"): e.findtext("value") for e in res.iter("entry")}
        self.assertEqual(attrs["SubscriptionsConfirmed"], "1")
        self.assertNotIn("DeliveryPolicy", attrs)
        res = ok_result(self, sns("ListSubscriptionsByTopic", ("TopicArn", self.keep_arn)),
                        "ListSubscriptionsByTopic")
        self.assertEqual([m.findtext("SubscriptionArn") for m in res.iter("member")],
                         [self.sub_arn])
        res = ok_result(self, sns("GetSubscriptionAttributes", ("SubscriptionArn", self.sub_arn)),
                        "GetSubscriptionAttributes")
        attrs = {e.findtext("key"): e.findtext("value") for e in res.iter("entry")}
        self.assertEqual(attrs["TopicArn"], self.keep_arn)
        self.assertNotIn("FilterPolicy", attrs)
        self.assertNotIn("RedrivePolicy", attrs)
        self.assertEqual(attrs["RawMessageDelivery"], "false")
        self.assertEqual(self.queue_counts(), (1, 0))

    def assert_error(self, resp, status, code, msg_part=None, sns_ns=True):
        """resp is SNS's ErrorResponse with status and code; returns the Message."""
        s, headers, body = resp
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            self.fail("reply is not well-formed XML (%s): %r" % (e, body[:500]))
        self.assertEqual(s, status, body[:500])
        if sns_ns:
            self.assertEqual(root.tag, "{%s}ErrorResponse" % SNS_NS, body[:300])
        root = broker.xml_strip_ns(root)
        self.assertEqual(root.tag, "ErrorResponse", body[:300])
        self.assertEqual(root.findtext("Error/Type"), "Sender", body[:300])
        self.assertEqual(root.findtext("Error/Code"), code, body[:500])
        msg = root.findtext("Error/Message")
        self.assertTrue(msg, body[:300])
        if msg_part is not None:
            self.assertIn(msg_part, msg)
        self.assertTrue(root.findtext("RequestId"), body[:300])
        self.assertTrue(headers.get("x-amzn-requestid"))
        return msg

    def assert_invalid(self, resp, msg_part=None):
        return self.assert_error(resp, 400, "InvalidParameter", msg_part)

    def publish_refused(self, *pairs, topic=None, msg_part=None):
        return self.assert_invalid(sns("Publish", ("TopicArn", topic or self.keep_arn), *pairs),
                                   msg_part)

    # ---- actions and versions ----

    def test_missing_action(self):
        for body in ("Version=" + SNS_VERSION, "Action=&Version=" + SNS_VERSION,
                     "Version=%s&TopicArn=%s" % (SNS_VERSION, enc(self.keep_arn))):
            with self.subTest(body=body):
                self.assert_error(BROKER.post_query(body), 400, "MissingAction")

    def test_unknown_action(self):
        for action in ("Frobnicate", "publish", "PUBLISH", "SendMessage", "A" * 5000,
                       "\u20ac" * 30, "x\x01y", b"\xff\xfe"):
            with self.subTest(action=action[:20]):
                self.assert_error(BROKER.post_query(form([("Action", action),
                                                          ("Version", SNS_VERSION)])),
                                  400, "InvalidAction")
        # The action names did not become metric labels (one series each, and a
        # newline or quote in one breaks the exposition format).
        self.assert_error(BROKER.post_query(form([("Action", 'x\n}y"'),
                                                  ("Version", SNS_VERSION)])),
                          400, "InvalidAction")
        s, _, text = BROKER.post(b"", method="GET", path="/metrics")
        self.assertEqual(s, 200)
        text = text.decode("utf-8", "replace")
        self.assertNotIn("Frobnicate", text)
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, METRIC_LINE)

    def test_action_with_wrong_version(self):
        # Not SNS's version: not published, whatever the action.
        for version in ("2099-01-01", "2010-03-30", SQS_VERSION, ""):
            with self.subTest(version=version):
                s, _, body = sns("Publish", ("TopicArn", self.keep_arn), ("Message", "no"),
                                 version=version)
                self.assertEqual(s, 400, body)
                self.assertEqual(broker.query_error(body)[1], "InvalidAction")

    # ---- required parameters ----

    def test_missing_required_parameters(self):
        sub, keep = self.sub_arn, self.keep_arn
        cases = [
            ("CreateTopic", [], "Name"),
            ("DeleteTopic", [], "TopicArn"),
            ("GetTopicAttributes", [], "TopicArn"),
            ("SetTopicAttributes", [("AttributeName", "DisplayName")], "TopicArn"),
            ("SetTopicAttributes", [("TopicArn", keep), ("AttributeValue", "x")], "AttributeName"),
            ("Publish", [("Message", "x")], "TopicArn"),
            ("Publish", [("TopicArn", keep)], "message"),
            ("Publish", [("TopicArn", keep), ("Message", "")], "message"),
            ("Subscribe", [("Protocol", "sqs"), ("Endpoint", "x")], "TopicArn"),
            ("Subscribe", [("TopicArn", keep), ("Endpoint", "x")], "Protocol"),
            ("Subscribe", [("TopicArn", keep), ("Protocol", "sqs")], "Endpoint"),
            ("ConfirmSubscription", [("TopicArn", keep)], "Token"),
            ("ConfirmSubscription", [("Token", "abc")], "TopicArn"),
            ("Unsubscribe", [], "SubscriptionArn"),
            ("GetSubscriptionAttributes", [], "SubscriptionArn"),
            ("SetSubscriptionAttributes", [("AttributeName", "RawMessageDelivery"),
                                           ("AttributeValue", "true")], "SubscriptionArn"),
            ("SetSubscriptionAttributes", [("SubscriptionArn", sub),
                                           ("AttributeValue", "true")], "AttributeName"),
            ("ListSubscriptionsByTopic", [], "TopicArn"),
            ("PublishBatch", [("PublishBatchRequestEntries.member.1.Id", "a"),
                              ("PublishBatchRequestEntries.member.1.Message", "x")], "TopicArn"),
            ("TagResource", [("Tags.member.1.Key", "k"), ("Tags.member.1.Value", "v")],
             "ResourceArn"),
        ]
        for action, pairs, what in cases:
            with self.subTest(action=action, missing=what):
                msg = self.assert_invalid(sns(action, *pairs))
                self.assertIn(what.lower(), msg.lower())

    # ---- ARNs ----

    def test_malformed_topic_arns(self):
        bad = [
            ("", 400, "InvalidParameter"),
            ("wire-keep", 400, "InvalidParameter"),
            ("arn:aws:sns", 400, "InvalidParameter"),
            ("arn:aws:sns:%s:%s" % (REGION, ACCOUNT), 400, "InvalidParameter"),
            ("arn:aws:sqs:%s:%s:wire-keep" % (REGION, ACCOUNT), 400, "InvalidParameter"),
            ("arn:aws:sns:eu-west-1:%s:wire-keep" % ACCOUNT, 400, "InvalidParameter"),
            ("arn:aws:sns:%s:111111111111:wire-keep" % REGION, 404, "NotFound"),
            (topic_arn("wire-keep:extra"), 400, "InvalidParameter"),
            (topic_arn("wire-keep") + "\x00x", 400, "InvalidParameter"),
            (topic_arn("wire-keep\x01"), 400, "InvalidParameter"),
            (topic_arn("a" * 10240), 400, "InvalidParameter"),
            ("\x01\x02" + "\u20ac" * 3000, 400, "InvalidParameter"),
            (topic_arn("wire-missing"), 404, "NotFound"),
        ]
        ops = [("GetTopicAttributes", []), ("Publish", [("Message", "x")]),
               ("Subscribe", [("Protocol", "sqs"),
                              ("Endpoint", "arn:aws:sqs:%s:%s:wire-keep-q" % (REGION, ACCOUNT))]),
               ("SetTopicAttributes", [("AttributeName", "DisplayName"),
                                       ("AttributeValue", "x")]),
               ("ListSubscriptionsByTopic", []),
               ("PublishBatch", [("PublishBatchRequestEntries.member.1.Id", "a"),
                                 ("PublishBatchRequestEntries.member.1.Message", "x")])]
        for arn, status, code in bad:
            for op, pairs in ops:
                with self.subTest(op=op, arn=arn[:60]):
                    self.assert_error(sns(op, ("TopicArn", arn), *pairs), status, code)

    def test_delete_topic_with_foreign_arn_deletes_nothing(self):
        # DeleteTopic is idempotent, but an ARN that only looks like a kept topic's
        # must not delete it (tearDown checks).
        for arn in ("arn:aws:sns:eu-west-1:%s:wire-keep" % ACCOUNT,
                    "arn:aws:sns:%s:111111111111:wire-keep" % REGION,
                    "arn:aws:xyz:%s:%s:wire-keep" % (REGION, ACCOUNT),
                    topic_arn("wire-keep") + "\x00tail",
                    topic_arn("wire-keep.fifo:x")):
            with self.subTest(arn=arn):
                s, _, body = sns("DeleteTopic", ("TopicArn", arn))
                if s == 200:
                    ok_result(self, (s, {}, body), "DeleteTopic")
                else:
                    self.assertIn(broker.query_error(body)[1], ("InvalidParameter", "NotFound"))
                self.assert_intact()

    def test_malformed_subscription_arns(self):
        sub_id = self.sub_arn.rsplit(":", 1)[1]
        cases = [
            ("", 400, "InvalidParameter"),
            (self.keep_arn + ":00000000-0000-0000-0000-000000000000", 404, "NotFound"),
            ("arn:aws:sns:eu-west-1:%s:wire-keep:%s" % (ACCOUNT, sub_id), 404, "NotFound"),
            ("arn:aws:sns:%s:%s:wire-other:%s" % (REGION, ACCOUNT, sub_id), 404, "NotFound"),
            ("arn:aws:sqs:%s:%s:wire-keep:%s" % (REGION, ACCOUNT, sub_id), 404, "NotFound"),
            (self.sub_arn + "\x00", 400, "InvalidParameter"),
            (self.sub_arn + "x" * 10240, 404, "NotFound"),
            (":", 404, "NotFound"),
            ("pending confirmation", 404, "NotFound"),
        ]
        for arn, status, code in cases:
            for op, pairs in (("Unsubscribe", []), ("GetSubscriptionAttributes", []),
                              ("SetSubscriptionAttributes",
                               [("AttributeName", "RawMessageDelivery"),
                                ("AttributeValue", "true")])):
                with self.subTest(op=op, arn=arn[:80]):
                    self.assert_error(sns(op, ("SubscriptionArn", arn), *pairs), status, code)

    # ---- topic names ----

    def test_topic_names(self):
        bad = [("a" * 257, []), ("bad name", []), ("caf\u00e9", []), ("a.b", []), ("a/b", []),
               (".fifo", [("FifoTopic", "true")]), ("wire-x.fifo", []),
               ("wire-x.fifo", [("FifoTopic", "false")]), ("wire-x", [("FifoTopic", "true")]),
               ("wire-x.fifo", [("FifoTopic", "yes")]),
               ("a" * 252 + ".fifo", [("FifoTopic", "true")]),
               ("wire-x", [("NoSuchAttribute", "1")]),
               ("wire-x", [("DeliveryPolicy", "{not json")])]
        for name, attrs in bad:
            pairs = [("Name", name)]
            for i, (k, v) in enumerate(attrs, 1):
                pairs += [("Attributes.entry.%d.key" % i, k), ("Attributes.entry.%d.value" % i, v)]
            with self.subTest(name=name[:40], attrs=attrs):
                self.assert_invalid(sns("CreateTopic", *pairs))
        # The longest names are fine.
        for name, attrs in (("b" * 256, []), ("c" * 251 + ".fifo", [("FifoTopic", "true")])):
            pairs = [("Name", name)]
            for i, (k, v) in enumerate(attrs, 1):
                pairs += [("Attributes.entry.%d.key" % i, k), ("Attributes.entry.%d.value" % i, v)]
            arn = ok_result(self, sns("CreateTopic", *pairs), "CreateTopic").findtext("TopicArn")
            self.assertEqual(arn, topic_arn(name))
            ok_result(self, sns("DeleteTopic", ("TopicArn", arn)), "DeleteTopic")
        # The same name with other attributes is refused; the topic keeps its own.
        self.assert_invalid(sns("CreateTopic", ("Name", self.keep),
                                ("Attributes.entry.1.key", "DisplayName"),
                                ("Attributes.entry.1.value", "changed")))

    # ---- message size ----

    def test_message_size_limit_in_utf8_bytes(self):
        accepted = [
            [("Message", "x" * KIB256)],
            [("Message", "\u00e9" * (KIB256 // 2))],
            [("Message", "\U0001F600" * (KIB256 // 4))],
            # name "a" + type "String" + value count against the limit too
            [("Message", "m" * (KIB256 - 7 - 100))]
            + attr_pairs("MessageAttributes", [("a", "String", "v" * 100)]),
            # a Binary value counts its bytes, not its base64 text (3000 bytes, 4000 chars)
            [("Message", "m" * (KIB256 - 7 - 3000))]
            + attr_pairs("MessageAttributes",
                         [("a", "Binary", base64.b64encode(b"\x01" * 3000).decode())]),
        ]
        refused = [
            [("Message", "x" * (KIB256 + 1))],
            [("Message", "\u00e9" * (KIB256 // 2) + "x")],
            [("Message", "\U0001F600" * (KIB256 // 4) + "x")],
            [("Message", "m" * (KIB256 - 7 - 100 + 1))]
            + attr_pairs("MessageAttributes", [("a", "String", "v" * 100)]),
            [("Message", "m" * (KIB256 - 7 - 100))]
            + attr_pairs("MessageAttributes", [("a", "String", "v" * 101)]),
            [("Message", "m" * (KIB256 - 7 - 3000 + 1))]
            + attr_pairs("MessageAttributes",
                         [("a", "Binary", base64.b64encode(b"\x01" * 3000).decode())]),
        ]
        for pairs in accepted:
            with self.subTest(accepted=len(pairs)):
                ok_result(self, sns("Publish", ("TopicArn", self.scratch_arn), *pairs), "Publish")
        for pairs in refused:
            with self.subTest(refused=len(pairs)):
                self.publish_refused(*pairs, msg_part="too long")

    # ---- UTF-8 ----

    def test_invalid_utf8_and_surrogates(self):
        bad = [b"\xff", b"a\xc0\x80b", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"x\xe2\x82",
               b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80"]
        for raw in bad:
            for key in ("Message", "Subject"):
                pairs = [("Message", "ok")] if key == "Subject" else []
                with self.subTest(key=key, raw=raw):
                    self.publish_refused((key, raw), *pairs)
            with self.subTest(attr=raw):
                self.publish_refused(("Message", "ok"),
                                     *attr_pairs("MessageAttributes", [("a", "String", raw)]))
        # A surrogate pair written as one astral character is fine.
        ok_result(self, sns("Publish", ("TopicArn", self.scratch_arn),
                            ("Message", "\U0001F600")), "Publish")

    def test_subject(self):
        for subject in ("s" * 101, "a\nb", "a\rb", "", "\x01x", "tab\there"):
            with self.subTest(subject=subject[:20]):
                self.publish_refused(("Message", "x"), ("Subject", subject), msg_part="Subject")
        ok_result(self, sns("Publish", ("TopicArn", self.scratch_arn), ("Message", "x"),
                            ("Subject", "s" * 100)), "Publish")

    # ---- message attributes ----

    def test_message_attributes(self):
        def entry(i, name, typ="String", val="v"):
            p = "MessageAttributes.entry.%d." % i
            return [(p + "Name", name), (p + "Value.DataType", typ), (p + "Value.StringValue", val)]

        cases = {
            "gap in numbering": entry(1, "a") + entry(3, "b"),
            "starts at 2": entry(2, "a"),
            "index 0": entry(0, "a"),
            "index not a number": [("MessageAttributes.entry.x.Name", "a")],
            "duplicate names": entry(1, "a") + entry(2, "a"),
            "eleven": sum((entry(i, "n%d" % i) for i in range(1, 12)), []),
            "no name": [("MessageAttributes.entry.1.Value.DataType", "String"),
                        ("MessageAttributes.entry.1.Value.StringValue", "v")],
            "no type": [("MessageAttributes.entry.1.Name", "a"),
                        ("MessageAttributes.entry.1.Value.StringValue", "v")],
            "bad type": entry(1, "a", "Integer", "1"),
            "empty type": entry(1, "a", "", "1"),
            "number not a number": entry(1, "a", "Number", "abc"),
            "number hex": entry(1, "a", "Number", "0x10"),
            "number nan": entry(1, "a", "Number", "nan"),
            "number inf": entry(1, "a", "Number", "inf"),
            "number too big": entry(1, "a", "Number", "1e400"),
            "number over 10^126": entry(1, "a", "Number", "1e127"),
            "number space": entry(1, "a", "Number", " 1"),
            "empty value": entry(1, "a", "String", ""),
            "no value": [("MessageAttributes.entry.1.Name", "a"),
                         ("MessageAttributes.entry.1.Value.DataType", "String")],
            "binary not base64": [("MessageAttributes.entry.1.Name", "a"),
                                  ("MessageAttributes.entry.1.Value.DataType", "Binary"),
                                  ("MessageAttributes.entry.1.Value.BinaryValue", "!!!not b64")],
            "string array not json": entry(1, "a", "String.Array", "[1,"),
            "name too long": entry(1, "n" * 257),
            "value is a string": [("MessageAttributes.entry.1.Name", "a"),
                                  ("MessageAttributes.entry.1.Value", "v")],
            "deep value": [("MessageAttributes.entry.1.Name", "a"),
                           ("MessageAttributes.entry.1.Value.a.b.c.d.e.f.g", "v")],
        }
        for what, pairs in cases.items():
            with self.subTest(what):
                self.publish_refused(("Message", "x"), *pairs)
        good = (entry(2, "b", "Number", "-12.5e3") + entry(1, "a")
                + entry(3, "c", "String.Array", '["x", 1]')
                + [("MessageAttributes.entry.4.Name", "d"),
                   ("MessageAttributes.entry.4.Value.DataType", "Binary"),
                   ("MessageAttributes.entry.4.Value.BinaryValue", "AAEC")])
        ok_result(self, sns("Publish", ("TopicArn", self.scratch_arn), ("Message", "x"), *good),
                  "Publish")

    # ---- MessageStructure ----

    def test_message_structure_json(self):
        deep = '{"default":"x","a":' + "[" * 100000 + "]" * 100000 + "}"
        cases = [
            ("not json", "Message Structure"),
            ("[]", "Message Structure"),
            ('"default"', "Message Structure"),
            ('{"sqs":"x"}', "No default entry"),
            ('{"default":5}', "Message Structure"),
            ('{"default":null}', "Message Structure"),
            ('{"default":"x","sqs":5}', "Message Structure"),
            ('{"default":"x","lambda":{"a":"b"}}', "Message Structure"),
            ('{"default":"x",', "Message Structure"),
            (deep, "Message Structure"),
        ]
        for msg, part in cases:
            with self.subTest(msg=msg[:40]):
                self.publish_refused(("Message", msg), ("MessageStructure", "json"), msg_part=part)
        self.publish_refused(("Message", '{"default":"x"}'), ("MessageStructure", "xml"),
                             msg_part="MessageStructure")
        # Keys that are no protocol may hold anything.
        ok_result(self, sns("Publish", ("TopicArn", self.scratch_arn),
                            ("Message", '{"default":"d","sqs":"s","info":{"a":[1]}}'),
                            ("MessageStructure", "json")), "Publish")

    # ---- PublishBatch ----

    def batch(self, entries, topic=None):
        pairs = [("TopicArn", topic or self.keep_arn)]
        for i, e in enumerate(entries, 1):
            for k, v in e:
                pairs.append(("PublishBatchRequestEntries.member.%d.%s" % (i, k), v))
        return sns("PublishBatch", *pairs)

    def test_publish_batch_refused_as_a_whole(self):
        def e(i):
            return [("Id", "id%d" % i), ("Message", "m%d" % i)]

        self.assert_error(sns("PublishBatch", ("TopicArn", self.keep_arn)), 400,
                          "EmptyBatchRequest")
        self.assert_error(self.batch([e(i) for i in range(11)]), 400,
                          "TooManyEntriesInBatchRequest")
        self.assert_error(self.batch([e(1), e(2), e(1)]), 400, "BatchEntryIdsNotDistinct")
        for bad_id in ("a b", "x" * 81, "", "\u00e9", "a.b", "a:b"):
            with self.subTest(id=bad_id):
                self.assert_error(self.batch([e(1), [("Id", bad_id), ("Message", "x")]]), 400,
                                  "InvalidBatchEntryId")
        self.assert_error(self.batch([[("Message", "no id")]]), 400, "InvalidBatchEntryId")
        self.assert_error(self.batch([[("Id", "a"), ("Message", "x" * (KIB256 // 2))],
                                      [("Id", "b"), ("Message", "x" * (KIB256 // 2 + 1))]]),
                          400, "BatchRequestTooLong")
        # Message attributes count towards the batch's size as they do for one message.
        self.assert_error(self.batch([[("Id", "a%d" % i), ("Message", "m")] + attr_pairs(
            "MessageAttributes", [("a", "String", "v" * (KIB256 // 4))]) for i in range(5)]),
            400, "BatchRequestTooLong")
        # member numbering with a gap, or not starting at 1
        pairs = [("TopicArn", self.keep_arn),
                 ("PublishBatchRequestEntries.member.1.Id", "a"),
                 ("PublishBatchRequestEntries.member.1.Message", "x"),
                 ("PublishBatchRequestEntries.member.3.Id", "b"),
                 ("PublishBatchRequestEntries.member.3.Message", "y")]
        self.assert_invalid(sns("PublishBatch", *pairs))
        self.assert_invalid(sns("PublishBatch", ("TopicArn", self.keep_arn),
                                ("PublishBatchRequestEntries.member.2.Id", "a"),
                                ("PublishBatchRequestEntries.member.2.Message", "x")))
        self.assert_error(sns("PublishBatch", ("TopicArn", self.keep_arn),
                              ("PublishBatchRequestEntries.member.1", "x")), 400,
                          "InvalidBatchEntryId")
        # duplicate attribute names inside one entry: the request does not parse
        self.assert_invalid(self.batch([[("Id", "a"), ("Message", "x")] + attr_pairs(
            "MessageAttributes", [("n", "String", "1"), ("n", "String", "2")])]))

    def test_publish_batch_one_bad_entry(self):
        bad_entries = [
            [("Message", "")],
            [("Message", "x"), ("Subject", "a\nb")],
            [("Message", "x"), ("MessageStructure", "json")],
            [("Message", "x")] + attr_pairs("MessageAttributes", [("n", "Number", "x")]),
            [("Message", "x")] + attr_pairs("MessageAttributes", [("n", "Number", "1e400")]),
            [("Message", "x"), ("MessageDeduplicationId", "d")],
        ]
        for bad in bad_entries:
            with self.subTest(bad=[(k, v[:20]) for k, v in bad]):
                res = ok_result(self, self.batch([[("Id", "good1"), ("Message", "a")],
                                                  [("Id", "bad")] + bad,
                                                  [("Id", "good2"), ("Message", "b")]],
                                                 topic=self.scratch_arn), "PublishBatch")
                good = sorted(m.findtext("Id") for m in res.find("Successful").iter("member"))
                self.assertEqual(good, ["good1", "good2"])
                failed = list(res.find("Failed").iter("member"))
                self.assertEqual([m.findtext("Id") for m in failed], ["bad"])
                self.assertEqual(failed[0].findtext("Code"), "InvalidParameter")
                self.assertEqual(failed[0].findtext("SenderFault"), "true")
                self.assertTrue(failed[0].findtext("Message"))

    # ---- FIFO ----

    def test_fifo_rules(self):
        self.publish_refused(("Message", "x"), ("MessageDeduplicationId", "d"),
                             topic=self.keep_fifo_arn, msg_part="MessageGroupId")
        self.publish_refused(("Message", "x"), ("MessageGroupId", ""),
                             ("MessageDeduplicationId", "d"), topic=self.keep_fifo_arn,
                             msg_part="MessageGroupId")
        self.publish_refused(("Message", "x"), ("MessageGroupId", "g"),
                             topic=self.keep_fifo_arn, msg_part="ContentBasedDeduplication")
        self.publish_refused(("Message", "x"), ("MessageDeduplicationId", "d"),
                             msg_part="MessageDeduplicationId")
        res = ok_result(self, sns("Publish", ("TopicArn", self.scratch_fifo_arn),
                                  ("Message", "x"), ("MessageGroupId", "g"),
                                  ("MessageDeduplicationId", "d")), "Publish")
        self.assertTrue(res.findtext("SequenceNumber"))
        # Standard topics take a MessageGroupId (for SQS fair queues) and ignore it.
        ok_result(self, sns("Publish", ("TopicArn", self.scratch_arn), ("Message", "x"),
                            ("MessageGroupId", "g")), "Publish")
        # Only SQS subscribers on FIFO topics.
        self.assert_invalid(sns("Subscribe", ("TopicArn", self.keep_fifo_arn),
                                ("Protocol", "http"), ("Endpoint", "http://127.0.0.1:9/")))
        # FifoTopic cannot change.
        self.assert_invalid(sns("SetTopicAttributes", ("TopicArn", self.keep_fifo_arn),
                                ("AttributeName", "FifoTopic"), ("AttributeValue", "false")))

    # ---- attributes ----

    def test_set_topic_attributes(self):
        deep = "[" * 100000 + "]" * 100000
        cases = [("NoSuchAttribute", "1"), ("FifoTopic", "true"), ("Policy\x00", "x"),
                 ("DeliveryPolicy", "{not json"), ("DeliveryPolicy", "[]"),
                 ("DeliveryPolicy", deep),
                 ("DeliveryPolicy", '{"http":' * 50000 + "1" + "}" * 50000),
                 ("DeliveryPolicy", '{"http":{"defaultHealthyRetryPolicy":{"numRetries":-1}}}'),
                 ("SignatureVersion", "3"), ("ContentBasedDeduplication", "maybe"),
                 ("", "x")]
        for name, value in cases:
            with self.subTest(name=name, value=value[:40]):
                self.assert_invalid(sns("SetTopicAttributes", ("TopicArn", self.keep_arn),
                                        ("AttributeName", name), ("AttributeValue", value)))

    def test_set_subscription_attributes(self):
        big_policy = json.dumps({"a": ["x" * 100] * 2700})
        deep = '{"a":' * 100000 + "1" + "}" * 100000
        cases = [
            ("NoSuchAttribute", "1"), ("", "1"),
            ("RawMessageDelivery", "maybe"), ("RawMessageDelivery", ""),
            ("FilterPolicyScope", "Nope"),
            ("RedrivePolicy", "{not json"), ("RedrivePolicy", "[]"),
            ("RedrivePolicy", '{"deadLetterTargetArn":"nope"}'),
            ("RedrivePolicy", '{"deadLetterTargetArn":5}'),
            ("RedrivePolicy", deep),
            ("DeliveryPolicy", '{"healthyRetryPolicy":{}}'),  # sqs subscription
            ("FilterPolicy", "{not json"), ("FilterPolicy", "[]"), ("FilterPolicy", "5"),
            ("FilterPolicy", big_policy),
            ("FilterPolicy", "x" * (256 * 1024 + 1)),
            ("FilterPolicy", json.dumps({k: ["1"] for k in "abcdef"})),
            ("FilterPolicy", json.dumps({k: [str(i) for i in range(20)] for k in "abc"})),
            ("FilterPolicy", deep),
            ("FilterPolicy", "[" * 100000 + "]" * 100000),
            ("FilterPolicy", '{"a":[{"numeric":[">",1e400]}]}'),
        ]
        for name, value in cases:
            with self.subTest(name=name, value=value[:40]):
                self.assert_invalid(sns("SetSubscriptionAttributes",
                                        ("SubscriptionArn", self.sub_arn),
                                        ("AttributeName", name), ("AttributeValue", value)))
        # The same checks at Subscribe time; no subscription is made.
        for name, value in cases[2:]:
            with self.subTest(subscribe=name, value=value[:40]):
                self.assert_invalid(sns(
                    "Subscribe", ("TopicArn", self.keep_arn), ("Protocol", "sqs"),
                    ("Endpoint", "arn:aws:sqs:%s:%s:wire-other-q" % (REGION, ACCOUNT)),
                    ("Attributes.entry.1.key", name), ("Attributes.entry.1.value", value)))

    def test_attribute_maps(self):
        # map entries without a key, duplicate keys, gaps, bad indexes
        cases = [
            [("Attributes.entry.1.value", "x")],
            [("Attributes.entry.1.key", "DisplayName"), ("Attributes.entry.1.value", "a"),
             ("Attributes.entry.2.key", "DisplayName"), ("Attributes.entry.2.value", "b")],
            [("Attributes.entry.1.key", "DisplayName"), ("Attributes.entry.1.value", "a"),
             ("Attributes.entry.3.key", "SignatureVersion"), ("Attributes.entry.3.value", "2")],
            [("Attributes.entry.1001.key", "DisplayName"), ("Attributes.entry.1001.value", "a")],
            [("Attributes.entry.-1.key", "DisplayName")],
            [("Attributes.entry.01.key", "DisplayName")],
            [("Attributes.entry.1.key", "DisplayName"), ("Attributes.member.2.key", "x")],
            [("Attributes", "x"), ("Attributes.entry.1.key", "DisplayName")],
            [("Attributes.entry.1.key", "DisplayName"), ("Attributes.entry.1.value.x", "a")],
        ]
        for pairs in cases:
            with self.subTest(pairs=pairs):
                self.assert_invalid(sns("CreateTopic", ("Name", "wire-maps"), *pairs))

    # ---- nonexistent objects ----

    def test_nonexistent_objects(self):
        missing = topic_arn("wire-missing")
        queue = "arn:aws:sqs:%s:%s:wire-keep-q" % (REGION, ACCOUNT)
        not_found = [
            ("Subscribe", [("TopicArn", missing), ("Protocol", "sqs"), ("Endpoint", queue)]),
            ("ConfirmSubscription", [("TopicArn", missing), ("Token", "t" * 64)]),
            ("Publish", [("TopicArn", missing), ("Message", "x")]),
            ("Publish", [("TargetArn", missing), ("Message", "x")]),
            ("GetTopicAttributes", [("TopicArn", missing)]),
            ("SetTopicAttributes", [("TopicArn", missing), ("AttributeName", "DisplayName"),
                                    ("AttributeValue", "x")]),
            ("ListSubscriptionsByTopic", [("TopicArn", missing)]),
            ("Unsubscribe", [("SubscriptionArn", self.keep_arn + ":no-such-id")]),
            ("GetSubscriptionAttributes", [("SubscriptionArn", self.keep_arn + ":no-such-id")]),
        ]
        for op, pairs in not_found:
            with self.subTest(op=op, pairs=pairs[:1]):
                self.assert_error(sns(op, *pairs), 404, "NotFound")
        for pairs in ([("PublishBatchRequestEntries.member.1.Id", "a"),
                       ("PublishBatchRequestEntries.member.1.Message", "x")],
                      [("PublishBatchRequestEntries.member.1.Id", "a")], []):
            with self.subTest(op="PublishBatch", pairs=pairs):
                self.assert_error(sns("PublishBatch", ("TopicArn", missing), *pairs), 404,
                                  "NotFound")
        # Tagging answers its own code for an unknown resource, also for an ARN that
        # names a kept topic in another region or account.
        for arn in (missing, "", "arn:aws:sns:eu-west-1:%s:wire-keep" % ACCOUNT,
                    "arn:aws:sns:%s:111111111111:wire-keep" % REGION):
            for op, pairs in (("ListTagsForResource", []),
                              ("TagResource", [("Tags.member.1.Key", "k"),
                                               ("Tags.member.1.Value", "v")]),
                              ("UntagResource", [("TagKeys.member.1", "k")])):
                with self.subTest(op=op, arn=arn):
                    if arn == "":
                        self.assert_invalid(sns(op, ("ResourceArn", arn), *pairs))
                    else:
                        self.assert_error(sns(op, ("ResourceArn", arn), *pairs), 404,
                                          "ResourceNotFound")
        res = ok_result(self, sns("ListTagsForResource", ("ResourceArn", self.keep_arn)),
                        "ListTagsForResource")
        self.assertEqual(list(res.iter("member")), [])
        # A wrong token on a real topic is InvalidParameter.
        for token in ("garbage", "", "x" * 10000):
            with self.subTest(token=token[:10]):
                self.assert_invalid(sns("ConfirmSubscription", ("TopicArn", self.keep_arn),
                                        ("Token", token)))
        # Deleting a topic that is not there succeeds, as on AWS.
        ok_result(self, sns("DeleteTopic", ("TopicArn", missing)), "DeleteTopic")

    def test_subscriber_get_urls_with_garbage(self):
        def get(query):
            return BROKER.post(b"", method="GET", path="/?" + query)

        keep = enc(self.keep_arn)
        self.assert_invalid(get("Action=ConfirmSubscription&TopicArn=%s&Token=garbage" % keep))
        self.assert_invalid(get("Action=ConfirmSubscription&TopicArn=%s&Token=%s"
                                % (keep, "z" * 5000)))
        self.assert_invalid(get("Action=ConfirmSubscription&TopicArn=%s" % keep))
        self.assert_invalid(get("Action=ConfirmSubscription&TopicArn=%s&Token=%%FF%%FE" % keep))
        self.assert_error(get("Action=ConfirmSubscription&TopicArn=%s&Token=abc"
                              % enc(topic_arn("wire-missing"))), 404, "NotFound")
        self.assert_error(get("Action=Unsubscribe&SubscriptionArn=garbage"), 404, "NotFound")
        self.assert_error(get("Action=Unsubscribe&SubscriptionArn=%s"
                              % enc(self.keep_arn + ":00000000-0000-0000-0000-000000000000")),
                          404, "NotFound")
        self.assert_invalid(get("Action=Unsubscribe"))
        self.assert_invalid(get("Action=Unsubscribe&SubscriptionArn="))
        for q in ("Action=ConfirmSubscription&Token=%ZZ", "Action=Unsubscribe&SubscriptionArn=%4",
                  "Action=Unsubscribe&SubscriptionArn=%"):
            with self.subTest(q=q):
                s, _, body = get(q)
                self.assertEqual(s, 400, body)
                self.assertEqual(broker.query_error(body)[1], "MalformedQueryString")

    # ---- bodies that are not forms ----

    def test_bodies_that_are_not_forms(self):
        ct = {"Content-Type": "application/x-www-form-urlencoded"}
        malformed = [b"Action=Publish&Version=2010-03-31&Message=%4",
                     b"Action=Publish&Version=2010-03-31&Message=%",
                     b"Action=Publish&Version=2010-03-31&Message=%G0",
                     b"Action=Publish&Version=2010-03-31&%00=x",
                     b"Action=Publish&Version=2010-03-31&a\x00b=x",
                     b"\x00\x01\x02\xff" * 100, b"a=1&" * 5000]
        for body in malformed:
            with self.subTest(body=body[:40]):
                s, _, data = BROKER.post(body, ct)
                self.assertEqual(s, 400, data)
                self.assertEqual(broker.query_error(data)[1], "MalformedQueryString")
        # No Action in it at all.
        for body in (json.dumps({"Action": "Publish", "Version": SNS_VERSION}).encode(),
                     b"<Publish/>", b"&" * (1024 * 1024),
                     b"=" * 1000, b"Version=2010-03-31&" + b"&" * (1024 * 1024)):
            with self.subTest(body=body[:40]):
                s, _, data = BROKER.post(body, ct)
                self.assertEqual(s, 400, data)
                self.assertIn(broker.query_error(data)[1], ("MissingAction", "MissingParameter"))
        # The separators alone do no harm to a good request.
        body = b"&" * (1024 * 1024) + b"Action=ListTopics&Version=2010-03-31" + b"&" * 1000
        ok_result(self, BROKER.post(body, ct), "ListTopics")
        # Parameter names the codec refuses.
        for key in ("A" * 1100, "a.b.c.d.e.f.g.h.i.j", "Attributes.entry.99999.key", ".", "..",
                    "TopicArn.x", "Tags.member.1.Key.member.2"):
            with self.subTest(key=key[:30]):
                self.assert_invalid(sns("Publish", ("TopicArn", self.keep_arn), ("Message", "x"),
                                        (key, "v")))
        self.assert_invalid(sns("Publish", ("TopicArn", self.keep_arn), ("Message", "x"),
                                ("Message", "again")))
        # Parameter names that are not UTF-8, as a whole name or as a prefix (the
        # codec once went on with a node jansson had freed: the second request
        # crashed the broker).
        for _ in range(3):
            for key in (b"\xff", b"\xff.x", b"\xff.a.b.c", b"\xfe.y", b"Attributes.entry.1.\xc0",
                        b"MessageAttributes.entry.1.Value.\xed\xa0\x80"):
                with self.subTest(key=key):
                    self.assert_invalid(sns("Publish", ("TopicArn", self.keep_arn),
                                            ("Message", "x"), (key, "v")))

    def raw(self, data, shut=True, timeout=30):
        """Sends raw bytes, half-closes, returns what came back before the close."""
        with socket.create_connection(("127.0.0.1", BROKER.port), timeout=timeout) as s:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
            out = b""
            for _ in range(10000):
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
            return out

    def test_content_length_mismatch(self):
        body = b"Action=ListTopics&Version=2010-03-31"
        head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                "application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n")
        # Promised more than sent, then EOF: no reply is possible, the broker lives on.
        self.raw((head % (len(body) + 1000)).encode() + body)
        # Promised far more than the broker takes: refused before the body.
        out = self.raw((head % (1 << 40)).encode() + body)
        self.assertTrue(out == b"" or out.split(b" ")[1] in (b"400", b"413"), out[:200])
        out = self.raw((head % 10**30).encode() + body)
        self.assertTrue(out == b"" or out.split(b" ")[1] in (b"400", b"413"), out[:200])
        out = self.raw(("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n").encode() + body)
        self.assertTrue(out == b"" or out.split(b" ")[1] in (b"400", b"413"), out[:200])
        # Sent more than promised: the rest is read as the next request, garbage.
        out = self.raw((head % 10).encode() + body + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out[:200])

    def test_deeply_nested_json_in_attributes(self):
        for depth in (1000, 100000):
            nested = '{"a":' * depth + "1" + "}" * depth
            arrays = "[" * depth + "]" * depth
            for name, value in (("DeliveryPolicy", nested), ("DeliveryPolicy", arrays),
                                ("Policy", nested)):
                with self.subTest(name=name, depth=depth, v=value[:2]):
                    s, _, body = sns("CreateTopic", ("Name", "wire-deep"),
                                     ("Attributes.entry.1.key", name),
                                     ("Attributes.entry.1.value", value))
                    if s == 200:
                        ok_result(self, sns("DeleteTopic", ("TopicArn", topic_arn("wire-deep"))),
                                  "DeleteTopic")
                    else:
                        self.assert_invalid((s, {"x-amzn-requestid": "-"}, body))
            with self.subTest(what="String.Array", depth=depth):
                self.publish_refused(("Message", "x"),
                                     *attr_pairs("MessageAttributes",
                                                 [("a", "String.Array", arrays[:-1])]))


if __name__ == "__main__":
    broker.main(sys.modules[__name__])

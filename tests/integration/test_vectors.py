#!/usr/bin/python3
"""Replay the SQS requests captured from real clients (tests/vectors/*-sqs-*.http).

For each client a fresh sluiced gets that client's requests in a sensible order
(create queues, set/get attributes, send, receive, then the operations that name
the capture server's receipt handles, purge, delete), each re-sent with its own
method, headers (X-Amz-Target, Content-Type, case and order kept) and body; only
Host is rewritten. Checks: the status, the reply parses in the protocol's own
format, the fields real clients rely on are there and right (MD5s are computed
from the decoded request), and receipt handles the broker never issued get a
well-formed ReceiptHandleIsInvalid.

Usage: /usr/bin/python3 test_vectors.py BUILD_DIR [REPO_DIR]
"""

import base64
import glob
import http.client
import json
import os
import re
import sys
import traceback
from urllib.parse import parse_qsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import broker  # noqa: E402
from broker import Broker, md5_hex, md5_of_attributes, parse_xml  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIAL = "héllo wörld & = + ~*'()! 😀 a/b?c#d%"
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CLIENTS = ("awscli2", "boto3-126", "awscli1", "boto3-143", "sdkjs3")
ORDER = ("CreateQueue", "CreateQueue-fifo", "CreateQueue-redrive", "GetQueueUrl",
         "ListQueues", "SetQueueAttributes", "GetQueueAttributes", "SendMessage",
         "SendMessage-specialchars", "SendMessage-systemattr", "SendMessageBatch",
         "SendMessage-fifo", "ReceiveMessage-sysattr", "ReceiveMessage",
         "ChangeMessageVisibility", "ChangeMessageVisibilityBatch", "DeleteMessage",
         "DeleteMessageBatch", "PurgeQueue", "DeleteQueue")
NO_OUTPUT = {"SetQueueAttributes", "ChangeMessageVisibility", "DeleteMessage",
             "PurgeQueue", "DeleteQueue"}


class CheckFailed(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


# ---- the captured requests ----

class Vector:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)[:-len(".http")]
        raw = open(path, "rb").read()
        head, self.body = raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.target, _ = lines[0].split(" ", 2)
        self.headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:]]
        h = {k.lower(): v for k, v in self.headers}
        check(int(h["content-length"]) == len(self.body), "%s: Content-Length" % self.name)
        if "x-amz-target" in h:
            self.proto = "json"
            self.op = h["x-amz-target"].split(".", 1)[1]
            self.params = json.loads(self.body)
        else:
            self.proto = "query"
            self.params = dict(parse_qsl(self.body.decode("ascii"), keep_blank_values=True,
                                         strict_parsing=True))
            self.op = self.params["Action"]

    def message_attributes(self, entry=None, prefix=""):
        """{name: {DataType, StringValue|BinaryValue(bytes)}} of the request, or of a
        batch entry (JSON: the entry object; query: its key prefix)."""
        if self.proto == "json":
            src = self.params if entry is None else entry
            out = {}
            for name, v in src.get("MessageAttributes", {}).items():
                a = {"DataType": v["DataType"]}
                if "BinaryValue" in v:
                    a["BinaryValue"] = base64.b64decode(v["BinaryValue"])
                else:
                    a["StringValue"] = v["StringValue"]
                out[name] = a
            return out
        out, n = {}, 1
        while "%sMessageAttribute.%d.Name" % (prefix, n) in self.params:
            k = "%sMessageAttribute.%d." % (prefix, n)
            a = {"DataType": self.params[k + "Value.DataType"]}
            if k + "Value.BinaryValue" in self.params:
                a["BinaryValue"] = base64.b64decode(self.params[k + "Value.BinaryValue"])
            else:
                a["StringValue"] = self.params[k + "Value.StringValue"]
            out[self.params[k + "Name"]] = a
            n += 1
        return out

    def batch_entries(self):
        """[(Id, MessageBody, attributes)] of a SendMessageBatch request."""
        if self.proto == "json":
            return [(e["Id"], e["MessageBody"], self.message_attributes(e))
                    for e in self.params["Entries"]]
        out, n = [], 1
        while "SendMessageBatchRequestEntry.%d.Id" % n in self.params:
            p = "SendMessageBatchRequestEntry.%d." % n
            out.append((self.params[p + "Id"], self.params[p + "MessageBody"],
                        self.message_attributes(prefix=p)))
            n += 1
        return out


# ---- replies, normalised to the JSON shapes ----

def xml_result(op, data):
    root = parse_xml(data)
    check(root.tag == op + "Response", "root element %r, want %sResponse" % (root.tag, op))
    if op in NO_OUTPUT:
        return {}
    res = root.find(op + "Result")
    check(res is not None, "no <%sResult> in %r" % (op, data[:300]))

    def fields(el):
        return {c.tag: c.text or "" for c in el if len(c) == 0}

    def message(el):
        m = fields(el)
        attrs = {a.findtext("Name"): a.findtext("Value") or "" for a in el.findall("Attribute")}
        if attrs:
            m["Attributes"] = attrs
        mattrs = {}
        for a in el.findall("MessageAttribute"):
            v = a.find("Value")
            d = {"DataType": v.findtext("DataType")}
            if v.find("BinaryValue") is not None:
                d["BinaryValue"] = v.findtext("BinaryValue") or ""
            else:
                d["StringValue"] = v.findtext("StringValue") or ""
            mattrs[a.findtext("Name")] = d
        if mattrs:
            m["MessageAttributes"] = mattrs
        return m

    if op == "ListQueues":
        return {"QueueUrls": [u.text for u in res.findall("QueueUrl")]}
    if op == "GetQueueAttributes":
        return {"Attributes": {a.findtext("Name"): a.findtext("Value") or ""
                               for a in res.findall("Attribute")}}
    if op == "ReceiveMessage":
        return {"Messages": [message(m) for m in res.findall("Message")]}
    if op.endswith("Batch"):
        ok = [fields(e) for e in res.findall(op + "ResultEntry")]
        bad = [fields(e) for e in res.findall("BatchResultErrorEntry")]
        for b in bad:
            b["SenderFault"] = b.get("SenderFault") == "true"
        return {"Successful": ok, "Failed": bad}
    return fields(res)


def decode_reply(vec, status, headers, data):
    check("content-length" in headers or
          headers.get("transfer-encoding", "").lower() == "chunked",
          "reply has neither Content-Length nor chunked encoding")
    if status != 200:
        return None
    if vec.proto == "query":
        return xml_result(vec.op, data)
    if not data.strip():
        check(vec.op in NO_OUTPUT, "empty JSON reply to %s" % vec.op)
        return {}
    doc = json.loads(data)
    check(isinstance(doc, dict), "JSON reply is not an object")
    return doc


def error_of(vec, status, headers, data):
    """(code as the client sees it, raw detail) of an error reply."""
    if vec.proto == "query":
        typ, code, msg = broker.query_error(data)
        check(typ == "Sender", "error Type %r" % typ)
        check(msg is not None, "error without Message")
        return code
    doc = json.loads(data)
    check("__type" in doc, "JSON error without __type: %r" % data[:300])
    check(doc.get("message") or doc.get("Message"), "JSON error without message")
    qe = headers.get("x-amzn-query-error", "")
    return doc["__type"].split("#")[-1].split(":")[0], qe


# ---- one client's replay ----

class Replay:
    def __init__(self, client, build_dir, vec_dir):
        self.client = client
        self.vectors = {}
        for p in glob.glob(os.path.join(vec_dir, "%s-sqs-*.http" % client)):
            v = Vector(p)
            self.vectors[v.name[len(client) + len("-sqs-"):]] = v
        self.broker = Broker(build_dir)
        self.conn = None
        self.passed = 0
        self.failed = []
        self.received = []

    def url(self, name):
        return self.broker.queue_url(name)

    def send(self, vec):
        """Re-send one captured request on a kept-alive connection."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.broker.port, timeout=40)
        self.conn.putrequest(vec.method, vec.target, skip_host=True,
                             skip_accept_encoding=True)
        for k, v in vec.headers:
            if k.lower() == "host":
                v = "127.0.0.1:%d" % self.broker.port
            self.conn.putheader(k, v)
        self.conn.endheaders(vec.body)
        r = self.conn.getresponse()
        data = r.read()
        headers = {k.lower(): v for k, v in r.getheaders()}
        if r.will_close:
            self.conn.close()
            self.conn = None
        return r.status, headers, data

    def step(self, name, fn, *args):
        label = "%s %s" % (self.client, name)
        try:
            fn(*args)
        except Exception as e:  # a failed check, or a reply we could not parse
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            if not isinstance(e, CheckFailed):
                detail += "\n" + traceback.format_exc(limit=3)
            self.failed.append("%s: %s" % (label, detail))
            print("FAIL %s\n     %s" % (label, detail.replace("\n", "\n     ")))
        else:
            self.passed += 1
            print("ok   %s" % label)

    def ok_reply(self, vec):
        st, hdr, data = self.send(vec)
        check(st == 200, "status %d, body %r" % (st, data[:400]))
        return decode_reply(vec, st, hdr, data)

    def expect_error(self, vec, want_code, want_header):
        st, hdr, data = self.send(vec)
        check(st == 400, "status %d (want 400 %s), body %r" % (st, want_code, data[:400]))
        decode_reply(vec, st, hdr, data)  # framing checks
        got = error_of(vec, st, hdr, data)
        if vec.proto == "query":
            check(got == want_code, "error code %r, want %r" % (got, want_code))
        else:
            check(got[0] == want_code, "__type %r, want %r" % (got[0], want_code))
            check(got[1] == want_header + ";Sender",
                  "x-amzn-query-error %r, want %r" % (got[1], want_header + ";Sender"))

    # -- per-operation checks --

    def do(self, key):
        vec = self.vectors[key]
        op = vec.op
        if op == "CreateQueue":
            r = self.ok_reply(vec)
            name = vec.params["QueueName"]
            check(r.get("QueueUrl") == self.url(name),
                  "QueueUrl %r, want %r" % (r.get("QueueUrl"), self.url(name)))
            if key == "CreateQueue-redrive":
                self.check_redrive_queue()
        elif op == "GetQueueUrl":
            r = self.ok_reply(vec)
            check(r.get("QueueUrl") == self.url("q1"), "QueueUrl %r" % r.get("QueueUrl"))
        elif op == "ListQueues":
            r = self.ok_reply(vec)
            want = sorted(self.url(n) for n in ("q1", "q1.fifo", "q2"))
            check(sorted(r.get("QueueUrls", [])) == want,
                  "QueueUrls %r, want %r" % (r.get("QueueUrls"), want))
        elif op == "SetQueueAttributes":
            self.ok_reply(vec)
        elif op == "GetQueueAttributes":
            a = self.ok_reply(vec).get("Attributes", {})
            check(a.get("QueueArn") == "arn:aws:sqs:us-east-1:000000000000:q1",
                  "QueueArn %r" % a.get("QueueArn"))
            check(a.get("VisibilityTimeout") == "45",
                  "VisibilityTimeout %r after SetQueueAttributes 45"
                  % a.get("VisibilityTimeout"))
            for k in ("ApproximateNumberOfMessages", "MaximumMessageSize",
                      "MessageRetentionPeriod", "CreatedTimestamp"):
                check(k in a, "attribute %s missing" % k)
        elif op == "SendMessage":
            r = self.ok_reply(vec)
            body = vec.params["MessageBody"]
            if key == "SendMessage-specialchars":
                check(body == SPECIAL, "vector body decodes to %r" % body)
            check(UUID_RE.match(r.get("MessageId", "")), "MessageId %r" % r.get("MessageId"))
            check(r.get("MD5OfMessageBody") == md5_hex(body),
                  "MD5OfMessageBody %r, want md5(%r) = %s"
                  % (r.get("MD5OfMessageBody"), body, md5_hex(body)))
            attrs = vec.message_attributes()
            if attrs:
                check(r.get("MD5OfMessageAttributes") == md5_of_attributes(attrs),
                      "MD5OfMessageAttributes %r, want %s"
                      % (r.get("MD5OfMessageAttributes"), md5_of_attributes(attrs)))
            else:
                check("MD5OfMessageAttributes" not in r, "MD5OfMessageAttributes without attributes")
            if key == "SendMessage-systemattr" and "MD5OfMessageSystemAttributes" in r:
                want = md5_of_attributes({"AWSTraceHeader": {"DataType": "String",
                                                             "StringValue": TRACE}})
                check(r["MD5OfMessageSystemAttributes"] == want,
                      "MD5OfMessageSystemAttributes %r, want %s"
                      % (r["MD5OfMessageSystemAttributes"], want))
            if key == "SendMessage-fifo":
                check(re.match(r"^[0-9]+$", r.get("SequenceNumber", "")),
                      "SequenceNumber %r" % r.get("SequenceNumber"))
        elif op == "SendMessageBatch":
            r = self.ok_reply(vec)
            check(not r.get("Failed"), "Failed entries %r" % r.get("Failed"))
            ok = {e["Id"]: e for e in r.get("Successful", [])}
            for eid, body, attrs in vec.batch_entries():
                check(eid in ok, "entry %s not in Successful %r" % (eid, r))
                e = ok[eid]
                check(UUID_RE.match(e.get("MessageId", "")), "%s MessageId" % eid)
                check(e.get("MD5OfMessageBody") == md5_hex(body), "%s MD5OfMessageBody" % eid)
                if attrs:
                    check(e.get("MD5OfMessageAttributes") == md5_of_attributes(attrs),
                          "%s MD5OfMessageAttributes %r" % (eid, e.get("MD5OfMessageAttributes")))
        elif op == "ReceiveMessage":
            r = self.ok_reply(vec)
            msgs = r.get("Messages", [])
            for m in msgs:
                check(UUID_RE.match(m.get("MessageId", "")), "MessageId %r" % m.get("MessageId"))
                check(m.get("ReceiptHandle"), "no ReceiptHandle")
                check(m.get("MD5OfBody") == md5_hex(m.get("Body", "")),
                      "MD5OfBody %r of %r" % (m.get("MD5OfBody"), m.get("Body")))
                a = m.get("Attributes", {})
                check("SentTimestamp" in a and "ApproximateReceiveCount" in a,
                      "All system attributes asked for, got %r" % a)
                if m.get("Body") == "b" and "SendMessage-systemattr" in self.vectors:
                    check(a.get("AWSTraceHeader") == TRACE, "AWSTraceHeader %r" % a)
            self.received.extend(msgs)
            if key == "ReceiveMessage":
                bodies = [m.get("Body") for m in self.received]
                check(SPECIAL in bodies, "special-chars body not received intact: %r" % bodies)
                if self.client in ("awscli2", "sdkjs3"):
                    check("b" in bodies, "systemattr message not received: %r" % bodies)
        elif op in ("ChangeMessageVisibility", "DeleteMessage"):
            # rh-abc is the capture server's handle: never issued by this broker
            self.expect_error(vec, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid")
        elif op in ("ChangeMessageVisibilityBatch", "DeleteMessageBatch"):
            r = self.ok_reply(vec)
            entries = vec.params["Entries"] if vec.proto == "json" else [
                {"Id": v} for k, v in vec.params.items() if k.endswith(".Id")]
            check(not r.get("Successful"), "Successful %r for foreign handles" % r.get("Successful"))
            failed = {f.get("Id"): f for f in r.get("Failed", [])}
            check(sorted(failed) == sorted(e["Id"] for e in entries),
                  "Failed ids %r" % sorted(failed))
            for f in failed.values():
                check(f.get("Code") == "ReceiptHandleIsInvalid", "entry code %r" % f.get("Code"))
                check(f.get("SenderFault") is True, "SenderFault %r" % f.get("SenderFault"))
        elif op == "PurgeQueue":
            self.ok_reply(vec)
            st, _, data = self.broker.post_json("GetQueueAttributes", {
                "QueueUrl": self.url("q1"), "AttributeNames": ["All"]})
            a = json.loads(data).get("Attributes", {})
            check(a.get("ApproximateNumberOfMessages") == "0" and
                  a.get("ApproximateNumberOfMessagesNotVisible") == "0" and
                  a.get("ApproximateNumberOfMessagesDelayed", "0") == "0",
                  "queue not empty after purge: %r" % a)
        elif op == "DeleteQueue":
            self.ok_reply(vec)
            # the client's own GetQueueUrl now gets the protocol's NonExistentQueue
            self.expect_error(self.vectors["GetQueueUrl"],
                              "AWS.SimpleQueueService.NonExistentQueue"
                              if vec.proto == "query" else "QueueDoesNotExist",
                              "AWS.SimpleQueueService.NonExistentQueue")
        else:
            raise CheckFailed("no check for %s" % op)

    def check_redrive_queue(self):
        st, _, data = self.broker.post_json("GetQueueAttributes", {
            "QueueUrl": self.url("q2"), "AttributeNames": ["RedrivePolicy"]})
        check(st == 200, "GetQueueAttributes q2: %d %r" % (st, data[:300]))
        rp = json.loads(json.loads(data)["Attributes"]["RedrivePolicy"])
        check(rp.get("deadLetterTargetArn") == "arn:aws:sqs:us-east-1:000000000000:dlq",
              "RedrivePolicy %r" % rp)
        check(str(rp.get("maxReceiveCount")) == "3", "RedrivePolicy %r" % rp)
        st, _, data = self.broker.post_json("ListQueueTags", {"QueueUrl": self.url("q2")})
        check(st == 200 and json.loads(data).get("Tags") == {"env": "dev"},
              "ListQueueTags q2: %d %r" % (st, data[:300]))

    def run(self):
        print("# %s: %d vectors" % (self.client, len(self.vectors)))
        try:
            self.broker.start()
        except RuntimeError as e:
            self.failed.append("%s: broker: %s" % (self.client, e))
            print("FAIL %s broker start: %s" % (self.client, e))
            self.broker.stop()
            return
        try:
            unknown = set(self.vectors) - set(ORDER)
            if unknown:
                self.failed.append("%s: vectors without a place in ORDER: %s"
                                   % (self.client, sorted(unknown)))
            for key in ORDER:
                if key not in self.vectors:
                    continue
                if key == "CreateQueue-redrive":
                    # the dead-letter target must exist first
                    self.step("create dlq", lambda: check(self.broker.post_query({
                        "Action": "CreateQueue", "Version": "2012-11-05",
                        "QueueName": "dlq"})[0] == 200, "CreateQueue dlq"))
                self.step(key, self.do, key)
            self.step("broker healthy", lambda: check(self.broker.healthz(), "healthz"))
        finally:
            if self.conn is not None:
                self.conn.close()
            self.broker.stop()
            for p in self.broker.problems():
                self.failed.append("%s: %s" % (self.client, p))
                print("FAIL %s: %s" % (self.client, p))
            if self.failed:
                print("# sluiced log tail (%s):\n%s" % (self.broker.log_path,
                                                         self.broker.log_tail(20)))
            self.broker.cleanup(keep=bool(self.failed))


def main():
    if len(sys.argv) < 2:
        print("usage: %s BUILD_DIR [REPO_DIR]" % sys.argv[0], file=sys.stderr)
        return 2
    broker.isolate_aws_env()
    build_dir = os.path.abspath(sys.argv[1])
    repo = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.path.join(HERE, "..", "..")
    vec_dir = os.path.join(repo, "tests", "vectors")
    passed, failed = 0, []
    seen = 0
    for client in CLIENTS:
        rp = Replay(client, build_dir, vec_dir)
        seen += len(rp.vectors)
        rp.run()
        passed += rp.passed
        failed += rp.failed
        if not rp.broker.endpoint:
            failed.append("remaining clients not run: sluiced does not start")
            break
    if seen == 0:
        failed.append("no vectors found in %s" % vec_dir)
    print()
    for f in failed:
        print("FAILED: " + f.split("\n")[0])
    print("%d passed, %d failed" % (passed, len(failed)))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())

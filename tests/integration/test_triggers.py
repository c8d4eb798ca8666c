"""Queue triggers end to end: a real sluiced, a real function process (the shell
custom runtime in functions/shell, speaking the Lambda Runtime API through curl),
driven through the native API. Covers success, retries with backoff then
dead-lettering with reason attributes, partial batch failures, filter criteria,
Lambda's visibility-timeout rule, scaling up under a burst and back to zero, and
the SQS event shape the handler receives, and a Node.js handler written for AWS Lambda
(functions/node/sqs.mjs, partial batch responses) run by AWS's aws-lambda-ric. Runs on
every store (conformance)."""

import hashlib
import json
import os
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import broker  # noqa: E402

BROKER = None
REDIS = None
FN_DIR = os.path.join(HERE, "functions", "sqs_shell")
NODE_DIR = os.path.join(HERE, "functions", "node")
NODE_RIC = os.path.join(NODE_DIR, "node_modules", "aws-lambda-ric", "bin", "index.mjs")


def api(method, path, body=None, ok=(200,)):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BROKER.endpoint + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, out = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, out = e.code, e.read()
    doc = json.loads(out or b"{}")
    if status not in ok:
        raise AssertionError("%s %s -> %d %s" % (method, path, status, doc))
    return status, doc


wait_until = broker.wait_until


def queue_counts(name):
    _, q = api("GET", "/v1/queues/" + name)
    a = q["attributes"]
    return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
            int(a["ApproximateNumberOfMessagesDelayed"]))


class Triggers(unittest.TestCase):
    def setUp(self):
        self.tag = self.id().rsplit(".", 1)[1].replace("_", "-")[:40]
        fd, self.out = tempfile.mkstemp(prefix="sluice-fn.")
        os.close(fd)

    def tearDown(self):
        os.unlink(self.out)

    def make(self, fn_extra=None, trigger_extra=None, queue_attrs=None, dlq=True):
        q, d, f = self.tag, self.tag + "-dlq", self.tag + "-fn"
        attrs = {"VisibilityTimeout": "10"}
        if dlq:
            api("POST", "/v1/queues", {"name": d})
            attrs["RedrivePolicy"] = json.dumps({
                "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:" + d,
                "maxReceiveCount": "2"})
        attrs.update(queue_attrs or {})
        api("POST", "/v1/queues", {"name": q, "attributes": attrs})
        fn = {"name": f, "kind": "process", "command": "sh ../shell/bootstrap", "cwd": FN_DIR,
              "handler": "sqs.handler", "env": {"SLUICE_TEST_OUT": self.out},
              "timeout_ms": 5000, "idle_timeout_ms": 1500}
        fn.update(fn_extra or {})
        api("POST", "/v1/functions", fn)
        trig = {"source": "queue:" + q, "function": f, "batch_size": 10,
                "retry_base_ms": 200, "retry_cap_ms": 1000}
        trig.update(trigger_extra or {})
        _, t = api("POST", "/v1/triggers", trig)
        self.addCleanup(api, "DELETE", "/v1/triggers/" + t["id"], None, (200, 404))
        return q, d, f, t["id"]

    def send(self, q, body, attrs=None):
        payload = {"body": body}
        if attrs:
            payload["attributes"] = attrs
        return api("POST", "/v1/queues/%s/messages" % q, payload)[1]["id"]

    def events(self):
        with open(self.out) as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def trigger_state(self, tid):
        _, st = api("GET", "/v1/stats")
        return next(t["state"] for t in st["triggers"] if t["id"] == tid)

    def test_success_path_and_event_shape(self):
        q, _, _, tid = self.make()
        mid = self.send(q, '{"order": 42}', {"color": {"type": "String", "value": "blue"}})
        wait_until(lambda: self.trigger_state(tid)["messages_ok"] >= 1, what="processing")
        wait_until(lambda: queue_counts(q) == (0, 0, 0), what="deletion")
        rec = self.events()[0]["Records"][0]
        self.assertEqual(rec["messageId"], mid)
        self.assertEqual(rec["body"], '{"order": 42}')
        self.assertEqual(rec["md5OfBody"], hashlib.md5(b'{"order": 42}').hexdigest())
        self.assertEqual(rec["eventSource"], "aws:sqs")
        self.assertEqual(rec["eventSourceARN"], "arn:aws:sqs:us-east-1:000000000000:" + q)
        self.assertEqual(rec["awsRegion"], "us-east-1")
        self.assertEqual(rec["attributes"]["ApproximateReceiveCount"], "1")
        for k in ("SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"):
            self.assertIsInstance(rec["attributes"][k], str)
        self.assertEqual(rec["messageAttributes"]["color"],
                         {"stringValue": "blue", "stringListValues": [], "binaryListValues": [],
                          "dataType": "String"})
        self.assertIsNotNone(rec["md5OfMessageAttributes"])

    def test_failures_retry_then_dead_letter_with_reasons(self):
        q, d, f, tid = self.make()
        t0 = time.monotonic()
        mid = self.send(q, "poison pill")
        _, got = wait_until(lambda: (lambda r: r if r[1]["messages"] else None)(
            api("GET", "/v1/queues/%s/messages?wait=1" % d)), what="the dead letter")
        took = time.monotonic() - t0
        m = got["messages"][0]
        self.assertEqual(m["id"], mid)
        self.assertEqual(m["body"], "poison pill")
        ma = m["message_attributes"]
        self.assertEqual(ma["sluice.function"]["value"], f)
        self.assertIn("poisoned batch", ma["sluice.error"]["value"])
        self.assertEqual(ma["sluice.attempts"]["value"], "2")
        self.assertLessEqual(int(ma["sluice.first_failure"]["value"]),
                             int(ma["sluice.last_failure"]["value"]))
        self.assertEqual(m["attributes"]["DeadLetterQueueSourceArn"],
                         "arn:aws:sqs:us-east-1:000000000000:" + q)
        # Retried after a backoff of about a second, not after the 10 s visibility timeout.
        self.assertLess(took, 9)
        self.assertEqual(len(self.events()), 2)
        st = self.trigger_state(tid)
        self.assertEqual(st["dead_lettered"], 1)
        self.assertGreaterEqual(st["retries"], 1)
        self.assertEqual(queue_counts(q), (0, 0, 0))

    def test_partial_batch_failures(self):
        q, _, _, tid = self.make(trigger_extra={"report_batch_item_failures": True,
                                                "batch_window_ms": 500})
        self.send(q, "fine one")
        bad = self.send(q, "partial failure")
        self.send(q, "fine two")
        wait_until(lambda: self.trigger_state(tid)["messages_ok"] >= 2, what="the good ones")
        # Only the reported message comes back, and is tried again.
        wait_until(lambda: sum(1 for e in self.events() for r in e["Records"]
                               if r["messageId"] == bad) >= 2, what="a retry of the failure")
        ok_ids = {r["messageId"] for e in self.events() for r in e["Records"]
                  if r["body"].startswith("fine")}
        self.assertEqual(len(ok_ids), 2)
        self.assertEqual(sum(1 for e in self.events() for r in e["Records"]
                             if r["body"].startswith("fine")), 2)

    def test_filter_criteria(self):
        q, _, _, tid = self.make(trigger_extra={
            "filter": {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]}})
        self.send(q, json.dumps({"kind": "noise"}))
        self.send(q, "not json at all")
        keep = self.send(q, json.dumps({"kind": "order", "n": 1}))
        wait_until(lambda: self.trigger_state(tid)["messages_ok"] >= 1, what="the match")
        wait_until(lambda: self.trigger_state(tid)["filtered"] >= 2, what="the drops")
        wait_until(lambda: queue_counts(q) == (0, 0, 0), what="empty queue")
        seen = [r["messageId"] for e in self.events() for r in e["Records"]]
        self.assertEqual(seen, [keep])

    def test_function_timeout_must_fit_visibility(self):
        api("POST", "/v1/queues", {"name": "vis-short", "attributes": {"VisibilityTimeout": "2"}})
        api("POST", "/v1/functions", {"name": "slowfn", "kind": "process", "command": "true",
                                      "timeout_ms": 5000})
        status, doc = api("POST", "/v1/triggers", {"source": "queue:vis-short",
                                                   "function": "slowfn"}, ok=(400,))
        self.assertIn("visibility timeout", doc["error"]["message"].lower())
        api("POST", "/v1/triggers", {"source": "queue:no-such-queue", "function": "slowfn"},
            ok=(404,))
        api("POST", "/v1/triggers", {"source": "queue:vis-short", "function": "no-such-fn"},
            ok=(404,))

    def test_burst_scales_up_within_bounds_then_to_zero(self):
        q, _, f, tid = self.make(fn_extra={"max_concurrency": 3},
                                 trigger_extra={"batch_size": 1})
        for i in range(30):
            self.send(q, "nap %d" % i)
        peak = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, fn = api("GET", "/v1/functions/" + f)
            peak = max(peak, fn["instances_running"])
            self.assertLessEqual(fn["instances_running"], 3)
            if self.trigger_state(tid)["messages_ok"] >= 30:
                break
            time.sleep(0.05)
        self.assertEqual(self.trigger_state(tid)["messages_ok"], 30)
        self.assertGreaterEqual(peak, 2)
        # idle_timeout_ms is 1.5 s: the instances go away again.
        wait_until(lambda: api("GET", "/v1/functions/" + f)[1]["instances_running"] == 0,
                   timeout=20, what="scale to zero")
        # The next message starts a new instance (a cold start).
        self.send(q, "after idle")
        wait_until(lambda: self.trigger_state(tid)["messages_ok"] >= 31, what="cold start")
        _, fn = api("GET", "/v1/functions/" + f)
        self.assertGreaterEqual(fn["cold_starts"], 2)

    def test_metrics_and_decision_log_carry_scaler_inputs_and_outputs(self):
        q, d, f, tid = self.make()
        self.send(q, "poison")
        wait_until(lambda: self.trigger_state(tid)["dead_lettered"] >= 1, what="the dead letter")
        for i in range(3):      # after it: a batch with the poison fails as a whole
            self.send(q, "fine %d" % i)
        wait_until(lambda: self.trigger_state(tid)["messages_ok"] >= 3, what="the good ones")
        # The autoscaler folds durations in at its next tick, which with a 200 ms retry
        # backoff may come after the last batch.
        wait_until(lambda: self.trigger_state(tid)["mean_duration_ms"] > 0,
                   what="a scaler tick with the batch durations")
        st = self.trigger_state(tid)
        with urllib.request.urlopen(BROKER.endpoint + "/metrics", timeout=10) as r:
            text = r.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                name, _, labels = key.partition("{")
                pairs = frozenset(tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",")
                                  if p)
                samples[(name, pairs)] = float(value)

        def get(name, **labels):
            return samples[(name, frozenset((k, '"%s"' % v) for k, v in labels.items()))]

        tl = {"trigger": tid, "function": f}
        self.assertEqual(get("sluice_trigger_invocations_total", **tl), st["invocations"])
        self.assertEqual(get("sluice_trigger_errors_total", **tl), st["errors"])
        self.assertGreaterEqual(st["errors"], 2)     # the poison batch, twice
        self.assertEqual(get("sluice_trigger_retries_total", **tl), st["retries"])
        self.assertGreaterEqual(st["retries"], 1)
        self.assertEqual(get("sluice_trigger_dead_lettered_total", **tl), 1)
        self.assertEqual(get("sluice_trigger_messages_ok_total", **tl), st["messages_ok"])
        for name in ("sluice_trigger_desired_concurrency", "sluice_trigger_in_flight",
                     "sluice_trigger_backlog"):
            self.assertGreaterEqual(get(name, **tl), 0)
        running = get("sluice_trigger_instances", state="running", **tl)
        self.assertEqual(running, get("sluice_function_instances", function=f, state="running"))
        self.assertLessEqual(get("sluice_trigger_instances", state="busy", **tl), running)
        # By function: every batch was an invocation; the poison ones function errors.
        self.assertGreaterEqual(get("sluice_function_invocations_total", function=f),
                                st["invocations"])
        self.assertGreaterEqual(get("sluice_function_errors_total", function=f,
                                    type="function_error"), 2)
        self.assertGreaterEqual(get("sluice_function_cold_starts_total", function=f), 1)
        self.assertGreater(get("sluice_function_last_start_seconds", function=f), 0)
        # The autoscaler's inputs and outputs, per trigger.
        for name in ("desired", "target", "backlog", "in_flight", "arrival_rate",
                     "completion_rate", "need_arrivals", "need_backlog", "scale_ups_total",
                     "scale_downs_total"):
            self.assertGreaterEqual(get("sluice_scaler_" + name, trigger=tid), 0, name)
        self.assertGreater(get("sluice_scaler_mean_duration_seconds", trigger=tid), 0)
        self.assertTrue(0 <= get("sluice_scaler_error_ratio", trigger=tid) <= 1)
        self.assertGreaterEqual(get("sluice_scaler_cold_starts_total", trigger=tid), 1)
        self.assertEqual(sum(1 for name, labels in samples if name == "sluice_scaler_decision"
                             and ("trigger", '"%s"' % tid) in labels), 1)
        self.assertEqual(get("sluice_scaler_desired", trigger=tid), st["desired"])
        # The decision log: each change with every input, and the function's instances.
        with open(BROKER.log_path, errors="replace") as fh:
            lines = [l for l in fh if "autoscaler decision trigger=%s " % tid in l]
        self.assertTrue(lines)
        for field in ("desired=", "why=", "backlog=", "in_flight=", "arrival_rate=",
                      "completion_rate=", "mean_duration_ms=", "error_rate=", "cold_starts=",
                      "running=", "busy=", "queued="):
            self.assertIn(field, lines[-1])

    # ---- A Node.js handler written for AWS Lambda, run by AWS's runtime client ----

    def make_node(self, **trigger_extra):
        if not os.path.exists(NODE_RIC):
            self.skipTest("aws-lambda-ric is not installed in functions/node (npm ci there)")
        return self.make(fn_extra={"command": "node node_modules/aws-lambda-ric/bin/index.mjs sqs.handler",
                                   "cwd": NODE_DIR, "handler": "sqs.handler",
                                   "timeout_ms": 10000},
                         trigger_extra=trigger_extra)

    def test_node_lambda_handler_success(self):
        q, _, f, tid = self.make_node(batch_window_ms=300)
        sent = {self.send(q, "order %d" % i) for i in range(5)}
        wait_until(lambda: self.trigger_state(tid)["messages_ok"] >= 5, timeout=60,
                   what="the node handler")
        wait_until(lambda: queue_counts(q) == (0, 0, 0), what="deletion")
        seen = self.events()
        self.assertEqual({e["messageId"] for e in seen}, sent)
        self.assertEqual(len(seen), 5)          # each once: nothing failed, nothing retried
        self.assertTrue(all(e["eventSource"] == "aws:sqs" and e["receiveCount"] == "1"
                            for e in seen))
        st = self.trigger_state(tid)
        self.assertEqual((st["errors"], st["retries"], st["dead_lettered"]), (0, 0, 0))
        _, logs = api("GET", "/v1/functions/%s/logs" % f)
        self.assertTrue(any("processed" in l["line"] and l["request"] for l in logs["lines"]),
                        logs)

    def test_node_lambda_handler_partial_batch_failure(self):
        q, d, f, tid = self.make_node(report_batch_item_failures=True, batch_window_ms=500)
        good = {self.send(q, "fine a"), self.send(q, "fine b")}
        bad = self.send(q, "please fail this one")
        # maxReceiveCount is 2: the reported record is retried once, then dead-lettered.
        _, got = wait_until(lambda: (lambda r: r if r[1]["messages"] else None)(
            api("GET", "/v1/queues/%s/messages?wait=1" % d)), timeout=60,
            what="the dead letter")
        m = got["messages"][0]
        self.assertEqual(m["id"], bad)
        self.assertEqual(m["message_attributes"]["sluice.error"]["value"],
                         "Reported in batchItemFailures")
        self.assertEqual(m["message_attributes"]["sluice.function"]["value"], f)
        seen = self.events()
        self.assertEqual(sorted(e["receiveCount"] for e in seen if e["messageId"] == bad),
                         ["1", "2"])
        self.assertEqual(sorted(e["messageId"] for e in seen if e["messageId"] != bad),
                         sorted(good))        # the good ones once each, never retried
        wait_until(lambda: queue_counts(q) == (0, 0, 0), what="an empty source queue")
        st = self.trigger_state(tid)
        self.assertEqual(st["messages_ok"], 2)
        self.assertEqual(st["dead_lettered"], 1)
        self.assertEqual(st["errors"], 0)       # partial failures fail no whole batch


if __name__ == "__main__":
    broker.main(sys.modules[__name__])

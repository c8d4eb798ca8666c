"""What operators touch: sluice.yaml applied at start (queues with their DLQ first,
a function and a trigger that then runs), --advertise-url in the queue URLs handed
out, /metrics in Prometheus text, and a SIGTERM that drains and exits cleanly.
Each test starts its own sluiced."""

import json
import os
import signal
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import broker  # noqa: E402

BUILD = None
FN_DIR = os.path.join(HERE, "functions", "sqs_shell")

CONFIG = """
queues:
  - name: cfg-work
    attributes:
      VisibilityTimeout: 30
      RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:cfg-dlq","maxReceiveCount":"3"}'
    tags: {team: ops}
  - name: cfg-dlq
functions:
  - name: cfg-fn
    kind: process
    command: sh ../shell/bootstrap
    cwd: %s
    handler: sqs.handler
    timeout_ms: 5000
triggers:
  - source: queue:cfg-work
    function: cfg-fn
    batch_size: 5
"""


def get(b, path):
    with urllib.request.urlopen(b.endpoint + path, timeout=10) as r:
        return r.status, r.read().decode()


class Ops(unittest.TestCase):
    def start(self, *args):
        b = broker.Broker(BUILD, list(args))
        b.start()
        self.addCleanup(b.cleanup, False)
        self.addCleanup(b.stop)
        return b

    def test_config_file_queues_functions_triggers(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(CONFIG % FN_DIR)
        self.addCleanup(os.unlink, f.name)
        b = self.start("--config", f.name)
        _, q = get(b, "/v1/queues/cfg-work")
        q = json.loads(q)
        self.assertEqual(q["attributes"]["VisibilityTimeout"], "30")
        self.assertIn("cfg-dlq", q["attributes"]["RedrivePolicy"])
        _, fns = get(b, "/v1/functions")
        self.assertEqual([f["name"] for f in json.loads(fns)["functions"]], ["cfg-fn"])
        # The declared trigger runs: a message sent is processed and deleted.
        status, _, _ = b.post(json.dumps({"body": "from config"}),
                              {"Content-Type": "application/json"},
                              path="/v1/queues/cfg-work/messages")
        self.assertEqual(status, 200)
        deadline = time.monotonic() + 20
        ok = 0
        while time.monotonic() < deadline:
            st = json.loads(get(b, "/v1/stats")[1])
            ok = st["triggers"][0]["state"]["messages_ok"] if st["triggers"] else 0
            if ok:
                break
            time.sleep(0.1)
        self.assertEqual(ok, 1)
        self.assertEqual(b.problems(), [])

    def test_bad_config_stops_the_broker(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("queues:\n  - name: q\n    atributes: {}\n")
        self.addCleanup(os.unlink, f.name)
        b = broker.Broker(BUILD, ["--config", f.name])
        with self.assertRaises(RuntimeError):
            b.start(timeout=3)
        b.stop()
        with open(b.log_path) as fh:
            self.assertIn("atributes", fh.read())
        b.cleanup(False)

    def test_refused_queue_stops_the_broker(self):
        # Valid YAML the SQS layer refuses when it is applied: the broker exits 1.
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("queues:\n  - name: ok\n  - name: q\n    attributes:\n"
                    "      VisibilityTimeout: 99999\n")
        self.addCleanup(os.unlink, f.name)
        b = broker.Broker(BUILD, ["--config", f.name])
        try:
            b.start(timeout=5)
        except RuntimeError:
            pass                        # it may exit before it answers /healthz
        self.assertEqual(b.proc.wait(10), 1)
        b.stop()
        with open(b.log_path) as fh:
            self.assertIn("config queue failed queue=q", fh.read())
        b.cleanup(False)

    def test_advertise_url(self):
        b = self.start("--advertise-url", "http://sluice.example:9999/")
        status, _, data = b.post_json("CreateQueue", {"QueueName": "adv"})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(data)["QueueUrl"],
                         "http://sluice.example:9999/000000000000/adv")

    def test_metrics(self):
        b = self.start()
        b.post_json("CreateQueue", {"QueueName": "met"})
        b.post_json("SendMessage", {"QueueUrl": "met", "MessageBody": "x"})
        b.post_json("SendMessage", {"QueueUrl": "nope", "MessageBody": "x"})
        status, text = get(b, "/metrics")
        self.assertEqual(status, 200)
        self.assertIn('sluice_requests_total{protocol="json",op="SendMessage",outcome="ok"} 1',
                      text)
        self.assertIn('sluice_requests_total{protocol="json",op="SendMessage",'
                      'outcome="QueueDoesNotExist"} 1', text)
        self.assertIn('sluice_queue_messages{queue="met",state="visible"} 1', text)
        self.assertEqual(get(b, "/healthz"), (200, "ok\n"))

    def test_metrics_label_unknown_actions_as_one(self):
        """An unknown action is the client's text: it must neither break the exposition
        format (quotes, newlines) nor make a series per request."""
        b = self.start()
        for junk in ('x\n}y"', "Nope1", "Nope2"):
            status, _, _ = b.post_query({"Action": junk, "Version": "2012-11-05"})
            self.assertEqual(status, 400)
            # (http.client refuses a newline in a header: the JSON protocol's op is one)
            status, _, _ = b.post_json(junk.replace("\n", ""), {})
            self.assertEqual(status, 400)
        status, text = get(b, "/metrics")
        self.assertEqual(status, 200)
        self.assertNotIn("Nope", text)
        for line in text.splitlines():
            self.assertRegex(line, r'^(#.*|[a-z_]+(\{([a-z_]+="[^"\n]*",?)*\})? [0-9.e+-]+)$')
        self.assertIn('sluice_requests_total{protocol="query",op="Unknown",'
                      'outcome="InvalidAction"} 3', text)
        self.assertIn('sluice_requests_total{protocol="json",op="Unknown",', text)

    def test_sigterm_exits_cleanly(self):
        b = self.start()
        b.proc.send_signal(signal.SIGTERM)
        self.assertEqual(b.proc.wait(10), 0)
        with open(b.log_path) as fh:
            self.assertIn("shutting down", fh.read())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_broker_ops.py BUILD_DIR")
    broker.isolate_aws_env()
    BUILD = os.path.abspath(sys.argv[1])
    prog = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)

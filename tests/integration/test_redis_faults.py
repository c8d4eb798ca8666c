"""Faults on the redis store, under load, through boto3 (SQS query protocol).

- A sluiced killed with SIGKILL while senders and receivers hammer it loses no
  message whose send was acknowledged, and the messages it had handed out (and
  that were not deleted) come back after their visibility timeout, with their
  receive count raised.
- Two sluiced on one Redis, each with several receivers polling one queue while
  messages are being sent through both, never hand the same message out twice
  within its visibility timeout, and every acknowledged message is handed out.
- A sluiced started before its Redis applies its sluice.yaml queues, topics,
  subscriptions, functions and triggers once Redis comes up (it retries instead of
  exiting).
- A sluiced that could not load the topics at start answers SNS calls 503 until it
  has, rather than from an empty cache: a Subscribe for a subscription already in
  the store answers that one instead of making a second.

Usage: test_redis_faults.py BUILD_DIR [REPO_DIR]; exits 77 (skipped) without
redis-server. Every loop is bounded by a deadline; nothing is timed as a pass
condition."""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker  # noqa: E402
from redis_server import RedisServer  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

BUILD = None
REDIS = None
RUN = os.getpid()


def store_url(prefix, redis=None):
    return "%s/0?prefix=%s" % ((redis or REDIS).url, prefix)


def sns_client(b, attempts=1):
    return boto3.session.Session().client(
        "sns", endpoint_url=b.endpoint, region_name="us-east-1",
        config=Config(retries={"max_attempts": attempts, "mode": "standard"},
                      connect_timeout=2, read_timeout=20))


def sqs(b, attempts=1):
    """A client of its own (one per thread): boto3 sessions are not thread-safe.
    attempts=1: a request cut by the kill fails instead of being retried."""
    return boto3.session.Session().client(
        "sqs", endpoint_url=b.endpoint, region_name="us-east-1",
        config=Config(retries={"max_attempts": attempts, "mode": "standard"},
                      connect_timeout=2, read_timeout=20))


class Load:
    """Shared bookkeeping of the load threads (guarded by one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acked = set()            # bodies whose send was acknowledged
        self.delete_tried = set()     # bodies a delete was sent for (acked or not)
        self.handed_out = {}          # body -> receive count, received and kept
        self.errors = []              # unexpected errors before the kill

    def sender(self, b, url, tag, max_batches):
        c = sqs(b)
        for i in range(max_batches):
            if self.stop.is_set():
                return
            entries = [{"Id": str(j), "MessageBody": "%s-%d-%d" % (tag, i, j)}
                       for j in range(10)]
            try:
                r = c.send_message_batch(QueueUrl=url, Entries=entries)
            except Exception:           # the broker was killed under this request
                return
            with self.lock:
                for ok in r.get("Successful", []):
                    self.acked.add(entries[int(ok["Id"])]["MessageBody"])
                if r.get("Failed"):
                    self.errors.append("send failed entries: %s" % r["Failed"])

    def receiver(self, b, url, visibility, max_polls):
        c = sqs(b)
        for _ in range(max_polls):
            if self.stop.is_set():
                return
            try:
                r = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                      VisibilityTimeout=visibility,
                                      AttributeNames=["ApproximateReceiveCount"])
            except Exception:
                return
            for k, m in enumerate(r.get("Messages", [])):
                body = m["Body"]
                if k % 2 == 0:              # delete half, keep the rest in flight
                    with self.lock:
                        self.delete_tried.add(body)
                    try:
                        c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    except Exception:
                        return
                else:
                    with self.lock:
                        self.handed_out[body] = int(m["Attributes"]["ApproximateReceiveCount"])


def drain(client, url, deadline_s, visibility=120):
    """Receives (and deletes) until the queue is empty in every state; returns
    {body: [receive counts seen]}."""
    got = {}
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        r = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   VisibilityTimeout=visibility,
                                   AttributeNames=["ApproximateReceiveCount"])
        msgs = r.get("Messages", [])
        for m in msgs:
            got.setdefault(m["Body"], []).append(int(m["Attributes"]["ApproximateReceiveCount"]))
        if msgs:
            client.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        elif broker.counts(client, url) == (0, 0, 0):
            break
    return got


class RedisFaults(unittest.TestCase):
    def test_sigkill_mid_load_loses_no_acknowledged_message(self):
        url_store = store_url("kill%d:" % RUN)
        k = broker.Broker(BUILD, ["--store", url_store]).start()
        try:
            url = sqs(k).create_queue(QueueName="load")["QueueUrl"]
            load = Load()
            threads = [threading.Thread(target=load.sender, args=(k, url, "s%d" % t, 2000))
                       for t in range(3)]
            threads += [threading.Thread(target=load.receiver, args=(k, url, 4, 4000))
                        for _ in range(2)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with load.lock:
                    if len(load.acked) >= 3000 and len(load.handed_out) >= 200:
                        break
                time.sleep(0.05)
            k.kill9()                   # mid-load: requests are in flight right now
            for t in threads:
                t.join(30)
                self.assertFalse(t.is_alive())
            self.assertEqual(load.errors, [])
            self.assertGreaterEqual(len(load.acked), 3000)
            self.assertGreaterEqual(len(load.handed_out), 200)
        finally:
            k.stop()
            self.assertEqual(k.problems(), [])
            k.cleanup(keep=False)

        k2 = broker.Broker(BUILD, ["--store", url_store]).start()
        try:
            c = sqs(k2, attempts=3)
            got = drain(c, url, 60)
            must_exist = load.acked - load.delete_tried
            missing = must_exist - set(got)
            self.assertEqual(len(missing), 0, "lost %d acknowledged messages, e.g. %s"
                             % (len(missing), sorted(missing)[:5]))
            # Handed out and never deleted: back after the 4 s visibility timeout,
            # received once more than when it was handed out.
            kept = {b: n for b, n in load.handed_out.items() if b not in load.delete_tried}
            self.assertGreater(len(kept), 0)
            for body, n in kept.items():
                self.assertIn(body, got)
                self.assertGreater(max(got[body]), n)
            # The drain itself hands nothing out twice (visibility 120 s).
            twice = [b for b, seen in got.items() if len(seen) > 1]
            self.assertEqual(twice, [])
            self.assertEqual(broker.counts(c, url), (0, 0, 0))
        finally:
            k2.stop()
            self.assertEqual(k2.problems(), [])
            k2.cleanup(keep=False)

    def test_two_brokers_never_hand_out_a_message_twice(self):
        url_store = store_url("two%d:" % RUN)
        a = broker.Broker(BUILD, ["--store", url_store]).start()
        b = broker.Broker(BUILD, ["--store", url_store]).start()
        try:
            url = sqs(a).create_queue(QueueName="race")["QueueUrl"]
            load = Load()
            total = 6000
            received = []               # (broker, MessageId, Body), every hand-out
            rlock = threading.Lock()
            senders_done = threading.Event()

            def poll(br):
                c = sqs(br, attempts=3)
                empty = 0
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    r = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                          VisibilityTimeout=300, WaitTimeSeconds=1)
                    msgs = r.get("Messages", [])
                    with rlock:
                        received.extend((br.port, m["MessageId"], m["Body"]) for m in msgs)
                    empty = 0 if msgs else empty + 1
                    if senders_done.is_set() and empty >= 2:
                        return

            senders = [threading.Thread(target=load.sender,
                                        args=(br, url, "p%d" % i, total // 20))
                       for i, br in enumerate((a, b))]
            pollers = [threading.Thread(target=poll, args=(br,)) for br in (a, b, a, b, a, b)]
            for t in senders + pollers:
                t.start()
            for t in senders:
                t.join(120)
                self.assertFalse(t.is_alive())
            senders_done.set()
            for t in pollers:
                t.join(150)
                self.assertFalse(t.is_alive())
            self.assertEqual(load.errors, [])
            self.assertEqual(len(load.acked), total)
            ids = [m[1] for m in received]
            dup = len(ids) - len(set(ids))
            self.assertEqual(dup, 0, "%d messages handed out twice within visibility" % dup)
            self.assertEqual(set(m[2] for m in received), load.acked)
            # Both brokers did take part.
            self.assertEqual(len(set(m[0] for m in received)), 2)
            self.assertEqual(broker.counts(sqs(b), url), (0, total, 0))
        finally:
            for br in (a, b):
                br.stop()
                self.assertEqual(br.problems(), [])
                br.cleanup(keep=False)

    def test_config_waits_for_redis(self):
        late = RedisServer()
        late.port = broker.free_port()  # known before it runs
        conf = os.path.join(late.dir, "sluice.yaml")
        with open(conf, "w") as f:
            f.write("queues:\n"
                    "  - name: late-dlq\n"
                    "  - name: late\n"
                    "    attributes:\n"
                    "      VisibilityTimeout: 7\n"
                    "      RedrivePolicy: '{\"deadLetterTargetArn\":"
                    "\"arn:aws:sqs:us-east-1:000000000000:late-dlq\",\"maxReceiveCount\":\"2\"}'\n"
                    "topics:\n"
                    "  - name: late-topic\n"
                    "    subscriptions:\n"
                    "      - protocol: sqs\n"
                    "        endpoint: late-dlq\n"
                    "        attributes: {RawMessageDelivery: true}\n"
                    "functions:\n"
                    "  - name: late-fn\n"
                    "    kind: http\n"
                    "    url: http://127.0.0.1:9/\n"
                    "    timeout_ms: 3000\n"
                    "triggers:\n"
                    "  - source: queue:late\n"
                    "    function: late-fn\n")
        k = broker.Broker(BUILD, ["--store", store_url("late%d:" % RUN, late),
                                  "--config", conf]).start()
        try:
            time.sleep(0.5)             # the broker tries, and waits
            self.assertTrue(k.alive())
            late.start()
            c = sqs(k, attempts=3)

            def queue_names():
                try:
                    return sorted(u.rsplit("/", 1)[1]
                                  for u in c.list_queues().get("QueueUrls", []))
                except Exception:
                    return []

            def v1(path):
                status, _, body = k.post("", path=path, method="GET")
                return json.loads(body) if status == 200 else {}

            broker.wait_until(lambda: queue_names() == ["late", "late-dlq"], 30, "the queues")
            # Functions and triggers come after the queues, once the stored ones are loaded.
            broker.wait_until(lambda: [t["function"] for t in v1("/v1/triggers").get(
                "triggers", [])] == ["late-fn"], 30, "the trigger")
            self.assertEqual([f["name"] for f in v1("/v1/functions")["functions"]], ["late-fn"])
            attrs = c.get_queue_attributes(QueueUrl=k.queue_url("late"),
                                           AttributeNames=["All"])["Attributes"]
            self.assertEqual(attrs["VisibilityTimeout"], "7")
            self.assertIn("late-dlq", attrs["RedrivePolicy"])
            # The topic and its subscription came after the queues.
            sns = sns_client(k, attempts=3)
            topic = "arn:aws:sns:us-east-1:000000000000:late-topic"
            subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
            self.assertEqual([s["Endpoint"] for s in subs],
                             ["arn:aws:sqs:us-east-1:000000000000:late-dlq"])
            sns.publish(TopicArn=topic, Message="late news")
            got = drain(c, k.queue_url("late-dlq"), 30)
            self.assertEqual(list(got), ["late news"])
            with open(k.log_path, errors="replace") as f:
                self.assertIn("config waits for the store", f.read())
        finally:
            k.stop()
            late.cleanup()
            self.assertEqual(k.problems(), [])
            k.cleanup(keep=False)


    def test_sns_answers_503_until_topics_are_loaded(self):
        prefix = store_url("unloaded%d:" % RUN)
        a = broker.Broker(BUILD, ["--store", prefix]).start()
        try:
            sns = sns_client(a)
            topic = sns.create_topic(Name="held")["TopicArn"]
            sqs(a).create_queue(QueueName="held-q")
            endpoint = "arn:aws:sqs:us-east-1:000000000000:held-q"
            first = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=endpoint,
                                  ReturnSubscriptionArn=True)["SubscriptionArn"]
        finally:
            a.stop()
            a.cleanup(keep=False)
        # A broker that starts while Redis does not answer cannot load the topics.
        REDIS.pause()
        try:
            b = broker.Broker(BUILD, ["--store", prefix + "&timeout=300"]).start()
            broker.wait_until(lambda: "topics not loaded" in open(b.log_path,
                                                                  errors="replace").read(),
                              30, "the failed load")
        finally:
            REDIS.resume()
        try:
            sns = sns_client(b)
            unavailable = []

            def subscribe():
                try:
                    return sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=endpoint,
                                         ReturnSubscriptionArn=True)["SubscriptionArn"]
                except ClientError as e:
                    self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 503)
                    unavailable.append(e)
                    time.sleep(0.2)
                    return None

            # Until its periodic reload, the broker answers 503; then the existing one.
            self.assertEqual(broker.wait_until(subscribe, 30, "the subscription"), first)
            subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
            self.assertEqual([s["SubscriptionArn"] for s in subs], [first])
        finally:
            b.stop()
            self.assertEqual(b.problems(), [])
            b.cleanup(keep=False)


def main():
    global BUILD, REDIS
    BUILD, REDIS = broker.setup(redis=True)
    prog = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()

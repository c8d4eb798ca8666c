"""The redis store end to end: two sluiced on one real redis-server, driven by boto3.

Queues and messages are shared (what one broker takes the other cannot), FIFO
order and group locks hold across brokers, a long poll parked on one broker wakes
when the other sends, messages survive a broker restart, a subscription made on one
broker serves a publish made on the other at once, topic deliveries survive a crash, Redis stopped turns into
503 ServiceUnavailable and service comes back once it restarts, and rediss:// is
refused at start. Usage: test_redis_store.py BUILD_DIR [REPO_DIR]; exits 77
(skipped) without redis-server."""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

BUILD = None
REDIS = None
A = None            # two brokers, one Redis, one prefix
B = None
PREFIX = "it%d:" % os.getpid()


def store_url():
    return "%s/0?prefix=%s" % (REDIS.url, PREFIX)


def start_broker():
    b = broker.Broker(BUILD, ["--store", store_url()])      # the last --store wins
    b.start()
    return b


def sqs(b, retries=3):
    return boto3.client("sqs", endpoint_url=b.endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": retries, "mode": "standard"},
                                      read_timeout=30))


class RedisStore(unittest.TestCase):
    def test_shared_queues_and_messages(self):
        a, b = sqs(A), sqs(B)
        url_a = a.create_queue(QueueName="shared")["QueueUrl"]
        url_b = b.get_queue_url(QueueName="shared")["QueueUrl"]
        self.assertIn("shared", [u.rsplit("/", 1)[1] for u in b.list_queues()["QueueUrls"]])
        entries = [{"Id": str(i), "MessageBody": "m%d" % i,
                    "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(i)}}}
                   for i in range(10)]
        sent = a.send_message_batch(QueueUrl=url_a, Entries=entries)
        self.assertEqual(len(sent["Successful"]), 10)
        got = b.receive_message(QueueUrl=url_b, MaxNumberOfMessages=10,
                                MessageAttributeNames=["All"], AttributeNames=["All"])
        msgs = got["Messages"]
        self.assertEqual(sorted(m["Body"] for m in msgs), sorted("m%d" % i for i in range(10)))
        for m in msgs:
            self.assertEqual(m["MD5OfBody"], broker.md5_hex(m["Body"]))
            self.assertEqual(m["Attributes"]["ApproximateReceiveCount"], "1")
        # Taken by B: A sees nothing.
        self.assertNotIn("Messages", a.receive_message(QueueUrl=url_a, MaxNumberOfMessages=10))
        attrs = a.get_queue_attributes(QueueUrl=url_a, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["ApproximateNumberOfMessagesNotVisible"], "10")
        # B's receipts work on A.
        dele = a.delete_message_batch(QueueUrl=url_a, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        self.assertEqual(len(dele["Successful"]), 10)
        attrs = b.get_queue_attributes(QueueUrl=url_b, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["ApproximateNumberOfMessagesNotVisible"], "0")
        self.assertEqual(attrs["ApproximateNumberOfMessages"], "0")

    def test_fifo_across_brokers(self):
        a, b = sqs(A), sqs(B)
        url = a.create_queue(QueueName="orders.fifo",
                             Attributes={"FifoQueue": "true",
                                         "ContentBasedDeduplication": "true"})["QueueUrl"]
        seqs = []
        for body, group in (("a1", "A"), ("a2", "A"), ("b1", "B"), ("a3", "A")):
            seqs.append(int(a.send_message(QueueUrl=url, MessageBody=body,
                                           MessageGroupId=group)["SequenceNumber"]))
        self.assertEqual(seqs, sorted(seqs))
        dup = b.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="A")
        self.assertEqual(int(dup["SequenceNumber"]), seqs[0])          # deduplicated
        first = b.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
        self.assertEqual([m["Body"] for m in first], ["a1", "a2"])
        # Group A is locked while a1/a2 are in flight, whichever broker asks.
        rest = a.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in rest], ["b1"])
        for m in first + rest:
            a.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        last = b.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in last], ["a3"])

    def test_long_poll_wakes_across_brokers(self):
        a, b = sqs(A), sqs(B)
        url = a.create_queue(QueueName="wake")["QueueUrl"]
        out = {}

        def poll():
            t0 = time.monotonic()
            out["r"] = b.receive_message(QueueUrl=url, WaitTimeSeconds=10)
            out["waited"] = time.monotonic() - t0

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        a.send_message(QueueUrl=url, MessageBody="over there")
        t.join(20)
        self.assertFalse(t.is_alive())
        self.assertEqual([m["Body"] for m in out["r"]["Messages"]], ["over there"])
        self.assertLess(out["waited"], 10)      # woken by the send, not the deadline

    def test_long_poll_wakes_on_visibility_expiry(self):
        a, b = sqs(A), sqs(B)
        url = a.create_queue(QueueName="expiry")["QueueUrl"]
        a.send_message(QueueUrl=url, MessageBody="again")
        taken = a.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
        self.assertEqual(len(taken), 1)
        t0 = time.monotonic()
        r = b.receive_message(QueueUrl=url, WaitTimeSeconds=10, AttributeNames=["All"])
        self.assertEqual([m["Body"] for m in r["Messages"]], ["again"])
        self.assertEqual(r["Messages"][0]["Attributes"]["ApproximateReceiveCount"], "2")
        self.assertLess(time.monotonic() - t0, 10)
        # The first receipt went stale with the second receive.
        with self.assertRaises(ClientError) as cm:
            a.change_message_visibility(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"],
                                        VisibilityTimeout=5)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)

    def test_redrive_to_dlq(self):
        a = sqs(A)
        dlq = a.create_queue(QueueName="dead")["QueueUrl"]
        arn = a.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
        arn = arn["Attributes"]["QueueArn"]
        src = a.create_queue(QueueName="work", Attributes={
            "RedrivePolicy": '{"deadLetterTargetArn":"%s","maxReceiveCount":"1"}' % arn})
        src = src["QueueUrl"]
        a.send_message(QueueUrl=src, MessageBody="poison")
        self.assertEqual(len(a.receive_message(QueueUrl=src, VisibilityTimeout=0)["Messages"]),
                         1)
        time.sleep(0.05)
        self.assertNotIn("Messages", a.receive_message(QueueUrl=src))
        moved = sqs(B).receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"]
        self.assertEqual([m["Body"] for m in moved], ["poison"])
        srcs = a.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
        self.assertEqual([u.rsplit("/", 1)[1] for u in srcs], ["work"])

    def test_messages_survive_broker_restart(self):
        global A
        a = sqs(A)
        url = a.create_queue(QueueName="durable")["QueueUrl"]
        a.send_message(QueueUrl=url, MessageBody="still here")
        A.stop()
        problems = A.problems()
        A.cleanup(keep=bool(problems))
        self.assertEqual(problems, [])
        A = start_broker()
        a = sqs(A)
        url = a.get_queue_url(QueueName="durable")["QueueUrl"]
        got = a.receive_message(QueueUrl=url)["Messages"]
        self.assertEqual([m["Body"] for m in got], ["still here"])

    def test_subscription_made_on_one_broker_serves_a_publish_on_the_other(self):
        """Whichever broker fans a publish out knows every subscription answered before it."""
        a = boto3.client("sns", endpoint_url=A.endpoint, region_name="us-east-1")
        b = boto3.client("sns", endpoint_url=B.endpoint, region_name="us-east-1")
        q = sqs(A)
        topic = a.create_topic(Name="cross-broker")["TopicArn"]
        for i in range(6):
            url = q.create_queue(QueueName="cross-%d" % i)["QueueUrl"]
            a.subscribe(TopicArn=topic, Protocol="sqs",
                        Endpoint="arn:aws:sqs:us-east-1:000000000000:cross-%d" % i)
            b.publish(TopicArn=topic, Message="m%d" % i)
            got = q.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
            self.assertEqual([json.loads(m["Body"])["Message"] for m in got],
                             ["m%d" % i], "publish %d" % i)

    def test_topic_deliveries_survive_broker_crash(self):
        """A publish accepted is in the outbox: brokers killed with SIGKILL while its
        HTTP delivery keeps failing, the restarted brokers deliver it."""
        global A, B
        from test_sns import Subscriber
        import urllib.request

        hook = Subscriber(status=500)
        self.addCleanup(hook.close)
        sns = boto3.client("sns", endpoint_url=A.endpoint, region_name="us-east-1",
                           config=Config(retries={"max_attempts": 3, "mode": "standard"}))
        topic = sns.create_topic(Name="durable-topic")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url, Attributes={
            "DeliveryPolicy": json.dumps({"healthyRetryPolicy": {
                "numRetries": 50, "minDelayTarget": 1, "maxDelayTarget": 1}})})
        deadline = time.monotonic() + 30
        while not hook.of_type("SubscriptionConfirmation") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(hook.of_type("SubscriptionConfirmation"), "no confirmation request")
        conf = json.loads(hook.of_type("SubscriptionConfirmation")[0][1])
        urllib.request.urlopen(conf["SubscribeURL"], timeout=10).read()
        mid = sns.publish(TopicArn=topic, Message="survives")["MessageId"]
        deadline = time.monotonic() + 20
        while not hook.of_type("Notification") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(hook.of_type("Notification"), "no delivery attempt")
        A.kill9()
        B.kill9()
        tried = len(hook.of_type("Notification"))
        hook.status = 200
        A = start_broker()
        B = start_broker()
        # An entry between attempts is due again within a second; one whose attempt was
        # in flight at the kill stays claimed by the dead broker until its 60 s lease
        # (fanout.c LEASE_MS) lapses.
        deadline = time.monotonic() + 80
        while len(hook.of_type("Notification")) == tried and time.monotonic() < deadline:
            time.sleep(0.1)
        after = hook.of_type("Notification")[tried:]
        self.assertTrue(after, "nothing delivered after the restart")
        self.assertEqual(json.loads(after[0][1])["MessageId"], mid)

    def test_z_redis_down_then_back(self):
        a = sqs(A, retries=1)
        url = a.create_queue(QueueName="outage")["QueueUrl"]
        REDIS.stop()
        time.sleep(0.3)
        t0 = time.monotonic()
        with self.assertRaises(ClientError) as cm:
            a.send_message(QueueUrl=url, MessageBody="nowhere to go")
        err = cm.exception.response
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], 503)
        self.assertEqual(err["Error"]["Code"], "ServiceUnavailable")
        self.assertLess(time.monotonic() - t0, 5)               # fails fast
        self.assertTrue(A.healthz() and B.healthz())            # brokers stay up
        REDIS.start()                                           # same port, empty
        deadline = time.monotonic() + 10
        while True:
            try:
                url = a.create_queue(QueueName="outage")["QueueUrl"]
                break
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        a.send_message(QueueUrl=url, MessageBody="back")
        got = sqs(B).receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
        self.assertEqual([m["Body"] for m in got], ["back"])


class RedisUrl(unittest.TestCase):
    def test_rediss_refused(self):
        p = subprocess.run([os.path.join(BUILD, "sluiced"), "--listen", "127.0.0.1:0",
                            "--store", "rediss://127.0.0.1:6379"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"TLS", p.stderr)


def main():
    global BUILD, REDIS, A, B
    BUILD, REDIS = broker.setup(redis=True)
    ok = False
    try:
        A = start_broker()
        B = start_broker()
        prog = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2)
        ok = prog.result.wasSuccessful()
        for b in (A, B):
            if not b.alive():
                print("FAIL: a sluiced is no longer running", file=sys.stderr)
                ok = False
    finally:
        for b in (A, B):
            if b is None:
                continue
            b.stop()
            for p in b.problems():
                print("FAIL: %s" % p, file=sys.stderr)
                ok = False
            if not ok:
                print("sluiced log (last lines, %s):\n%s" % (b.log_path, b.log_tail()),
                      file=sys.stderr)
            b.cleanup(keep=not ok)
        REDIS.cleanup()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

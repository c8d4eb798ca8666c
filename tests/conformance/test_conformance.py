"""Store conformance: queue semantics every store must give alike, through the SQS API.

Usage: test_conformance.py BUILD_DIR --store memory|redis
With --store redis a private redis-server is started on a free loopback port (exit 77,
skipped, when redis-server is not installed). The rest of the semantic suite is the
integration suites run again on Redis (see README.md here); this file holds what they do
not cover: retention, the three counts through every state, purge with messages in
flight, receive counts and first-receive times, and the order of a standard queue's
redelivery."""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import broker  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

BROKER = None
REDIS = None


def sqs():
    return boto3.client("sqs", endpoint_url=BROKER.endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 2, "mode": "standard"},
                                      read_timeout=30))


counts = broker.counts


class Conformance(unittest.TestCase):
    def test_counts_through_every_state(self):
        c = sqs()
        url = c.create_queue(QueueName="counts")["QueueUrl"]
        self.assertEqual(counts(c, url), (0, 0, 0))
        c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "m%d" % i} for i in range(5)])
        c.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
        self.assertEqual(counts(c, url), (5, 0, 1))
        got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=1)
        self.assertEqual(len(got["Messages"]), 3)
        self.assertEqual(counts(c, url), (2, 3, 1))
        c.delete_message(QueueUrl=url, ReceiptHandle=got["Messages"][0]["ReceiptHandle"])
        self.assertEqual(counts(c, url), (2, 2, 1))
        # Visibility ends, the delay ends: everything left is visible again.
        broker.wait_until(lambda: counts(c, url) == (5, 0, 0), 10, "everything visible again")

    def test_receive_count_and_first_receive_time(self):
        c = sqs()
        url = c.create_queue(QueueName="recv-count")["QueueUrl"]
        t_send = int(time.time() * 1000)
        c.send_message(QueueUrl=url, MessageBody="again and again")
        firsts = set()
        for n in (1, 2, 3):
            m = broker.wait_until(lambda: c.receive_message(
                QueueUrl=url, VisibilityTimeout=0, AttributeNames=["All"]).get("Messages"), 5,
                "receive %d" % n)
            attrs = m[0]["Attributes"]
            self.assertEqual(attrs["ApproximateReceiveCount"], str(n))
            self.assertGreaterEqual(int(attrs["SentTimestamp"]), t_send - 2000)
            firsts.add(attrs["ApproximateFirstReceiveTimestamp"])
        self.assertEqual(len(firsts), 1)            # set by the first receive only

    def test_purge_with_messages_in_flight(self):
        c = sqs()
        url = c.create_queue(QueueName="purge-inflight")["QueueUrl"]
        c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "p%d" % i} for i in range(4)])
        c.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=5)
        taken = c.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
        self.assertEqual(len(taken), 2)
        c.purge_queue(QueueUrl=url)
        self.assertEqual(counts(c, url), (0, 0, 0))
        # A receipt of a purged message no longer changes anything.
        with self.assertRaises(ClientError):
            c.change_message_visibility(QueueUrl=url, ReceiptHandle=taken[0]["ReceiptHandle"],
                                        VisibilityTimeout=0)
        c.send_message(QueueUrl=url, MessageBody="after purge")
        got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in got], ["after purge"])

    def test_fifo_redelivery_keeps_group_order(self):
        c = sqs()
        url = c.create_queue(QueueName="redeliver.fifo", Attributes={
            "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        for i in range(6):
            c.send_message(QueueUrl=url, MessageBody="g%d" % i, MessageGroupId="g")
        first = c.receive_message(QueueUrl=url, MaxNumberOfMessages=3,
                                  VisibilityTimeout=1)["Messages"]
        self.assertEqual([m["Body"] for m in first], ["g0", "g1", "g2"])
        # Nothing of the group while its head is in flight; then the same head again.
        self.assertNotIn("Messages", c.receive_message(QueueUrl=url, MaxNumberOfMessages=10))
        again = broker.wait_until(lambda: c.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10).get("Messages"), 5, "the group's head again")
        self.assertEqual([m["Body"] for m in again], ["g%d" % i for i in range(6)])

    def test_z_retention_drops_expired_messages(self):
        c = sqs()
        url = c.create_queue(QueueName="retention", Attributes={
            "MessageRetentionPeriod": "60"})["QueueUrl"]        # SQS's minimum
        c.send_message(QueueUrl=url, MessageBody="short-lived")
        c.send_message(QueueUrl=url, MessageBody="in flight when it expires")
        taken = c.receive_message(QueueUrl=url, MaxNumberOfMessages=1,
                                  VisibilityTimeout=64)["Messages"]
        self.assertEqual(len(taken), 1)
        self.assertEqual(counts(c, url), (1, 1, 0))
        time.sleep(61)
        # The visible one is gone at once; the one in flight is judged when its
        # visibility ends, and is dropped then instead of surfacing.
        self.assertNotIn("Messages", c.receive_message(QueueUrl=url, MaxNumberOfMessages=10))
        self.assertEqual(counts(c, url)[0], 0)
        broker.wait_until(lambda: counts(c, url) == (0, 0, 0), 10, "the expired message gone")
        self.assertNotIn("Messages", c.receive_message(QueueUrl=url, MaxNumberOfMessages=10))
        c.send_message(QueueUrl=url, MessageBody="fresh")
        got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual([m["Body"] for m in got], ["fresh"])

def main():
    # BUILD_DIR --store memory|redis: broker.main runs these tests against one sluiced,
    # on a private redis-server when SLUICE_IT_STORE=redis.
    if len(sys.argv) != 4 or sys.argv[2] != "--store" or sys.argv[3] not in ("memory", "redis"):
        print("usage: %s BUILD_DIR --store memory|redis" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    os.environ["SLUICE_IT_STORE"] = sys.argv[3]
    del sys.argv[2:]
    broker.main(sys.modules[__name__])


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Topics and subscriptions declared in sluice.yaml, through boto3.

- sluiced started with a sluice.yaml declaring queues, a topic (attributes, tags)
  with sqs subscriptions (by queue name and by ARN; raw delivery, a filter policy
  written as YAML, a RedrivePolicy), a lambda subscription by function name and a
  FIFO topic: a publish reaches the subscribed queues as declared.
- The same subscription declared twice is made once; a restart on the same store
  makes no second one (same ARNs, one delivery per publish), and a changed
  attribute in the file is set on the existing subscription.
- A bad declaration stops sluiced with the SNS error.

Runs on the memory store, and on a private redis-server with SLUICE_IT_STORE=redis
(where the restart keeps the store, the case that matters).
Usage: test_sns_config.py BUILD_DIR [REPO_DIR]
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import boto3
    from botocore.config import Config
except ImportError:
    print("SKIP: boto3 missing for %s; run tests/install-deps.sh" % sys.executable)
    sys.exit(77)

import broker  # noqa: E402

BUILD = None
REDIS = None
ACCOUNT = "000000000000"
RUN = os.getpid()

CONFIG = """\
queues:
  - name: big-orders
  - name: all-orders
  - name: orders-dlq
  - name: audit.fifo
    attributes:
      FifoQueue: true
topics:
  - name: orders
    attributes:
      DisplayName: Orders
    tags:
      team: shop
    subscriptions:
      - protocol: sqs
        endpoint: big-orders                # a queue name
        attributes:
          RawMessageDelivery: true
          FilterPolicy: {amount: [{numeric: [">=", %(min)d]}]}
          RedrivePolicy: '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq"}'
      - protocol: sqs
        endpoint: arn:aws:sqs:us-east-1:000000000000:all-orders
      - protocol: sqs                       # the same again: one subscription
        endpoint: all-orders
  - name: hooks                             # never published to
    subscriptions:
      - protocol: lambda
        endpoint: audit-fn                  # a function name
  - name: audit.fifo
    attributes:
      FifoTopic: "true"
      ContentBasedDeduplication: "true"
    subscriptions:
      - protocol: sqs
        endpoint: audit.fifo
"""


def topic_arn(name):
    return "arn:aws:sns:us-east-1:%s:%s" % (ACCOUNT, name)


class SnsConfig(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-sns-config.")
        self.conf = os.path.join(self.dir, "sluice.yaml")
        self.store = (["--store", "%s/0?prefix=snscfg%d-%s:" % (REDIS.url, RUN, self.id()[-12:])]
                      if REDIS else [])
        self.brokers = []

    def tearDown(self):
        for b in self.brokers:
            b.stop()
            self.assertEqual(b.problems(), [])
            b.cleanup(keep=False)

    def write(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        b = broker.Broker(BUILD, self.store + ["--config", self.conf]).start()
        self.brokers.append(b)
        cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
        kw = dict(endpoint_url=b.endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test", config=cfg)
        self.b, self.sns, self.sqs = b, boto3.client("sns", **kw), boto3.client("sqs", **kw)
        # The file is applied on the loop after the broker answers /healthz.
        broker.wait_until(self.applied, 30, "the config applied")
        return b

    def applied(self):
        try:
            subs = self.sns.list_subscriptions_by_topic(
                TopicArn=topic_arn("audit.fifo"))["Subscriptions"]
        except self.sns.exceptions.NotFoundException:
            return False
        return len(subs) == 1

    def stop(self):
        self.b.stop()
        self.assertEqual(self.b.problems(), [])

    def subs(self):
        return sorted((s["Endpoint"], s["SubscriptionArn"]) for s in
                      self.sns.list_subscriptions_by_topic(TopicArn=topic_arn("orders"))
                      ["Subscriptions"])

    def receive_all(self, queue, want, timeout=20.0):
        """Receives (deleting) until want messages came, then once more to see
        that no further one is there."""
        url = self.b.queue_url(queue)
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=1, MessageAttributeNames=["All"])
            msgs = r.get("Messages", [])
            for m in msgs:
                got.append(m)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if len(got) >= want and not msgs:
                break
        return got

    def publish_and_check(self, tag):
        orders = topic_arn("orders")
        self.sns.publish(TopicArn=orders, Message="big " + tag, MessageAttributes={
            "amount": {"DataType": "Number", "StringValue": "250"}})
        self.sns.publish(TopicArn=orders, Message="small " + tag, MessageAttributes={
            "amount": {"DataType": "Number", "StringValue": "5"}})
        big = self.receive_all("big-orders", 1)
        self.assertEqual([m["Body"] for m in big], ["big " + tag])      # raw, filtered
        self.assertEqual(big[0]["MessageAttributes"]["amount"]["StringValue"], "250")
        every = self.receive_all("all-orders", 2)
        self.assertEqual(sorted(json.loads(m["Body"])["Message"] for m in every),
                         ["big " + tag, "small " + tag])               # enveloped, once each
        self.sns.publish(TopicArn=topic_arn("audit.fifo"), Message="audit " + tag,
                         MessageGroupId="g")
        audit = self.receive_all("audit.fifo", 1)
        self.assertEqual([json.loads(m["Body"])["Message"] for m in audit], ["audit " + tag])

    def test_declared_topics_deliver_and_restart_does_not_duplicate(self):
        self.write(CONFIG % {"min": 100})
        self.start()
        subs = self.subs()
        self.assertEqual([e for e, _ in subs],
                         ["arn:aws:sqs:us-east-1:%s:all-orders" % ACCOUNT,
                          "arn:aws:sqs:us-east-1:%s:big-orders" % ACCOUNT])
        a = self.sns.get_topic_attributes(TopicArn=topic_arn("orders"))["Attributes"]
        self.assertEqual(a["DisplayName"], "Orders")
        self.assertEqual(self.sns.list_tags_for_resource(ResourceArn=topic_arn("orders"))["Tags"],
                         [{"Key": "team", "Value": "shop"}])
        big_arn = dict(subs)["arn:aws:sqs:us-east-1:%s:big-orders" % ACCOUNT]
        sa = self.sns.get_subscription_attributes(SubscriptionArn=big_arn)["Attributes"]
        self.assertEqual(sa["RawMessageDelivery"], "true")
        self.assertEqual(json.loads(sa["FilterPolicy"]), {"amount": [{"numeric": [">=", 100]}]})
        self.assertIn("orders-dlq", sa["RedrivePolicy"])
        hooks = self.sns.list_subscriptions_by_topic(TopicArn=topic_arn("hooks"))["Subscriptions"]
        self.assertEqual([(h["Protocol"], h["Endpoint"]) for h in hooks],
                         [("lambda", "arn:aws:lambda:us-east-1:%s:function:audit-fn" % ACCOUNT)])
        self.publish_and_check("one")

        # Restart on the same store: nothing made twice.
        self.stop()
        self.start()
        if REDIS:
            self.assertEqual(self.subs(), subs)
        else:
            self.assertEqual([e for e, _ in self.subs()], [e for e, _ in subs])
        self.publish_and_check("two")

        # A changed attribute is set on the subscription that is there.
        self.stop()
        self.write(CONFIG % {"min": 1})
        self.start()
        after = self.subs()
        self.assertEqual(len(after), 2)
        if REDIS:
            self.assertEqual(after, subs)
        big_arn = dict(after)["arn:aws:sqs:us-east-1:%s:big-orders" % ACCOUNT]
        sa = self.sns.get_subscription_attributes(SubscriptionArn=big_arn)["Attributes"]
        self.assertEqual(json.loads(sa["FilterPolicy"]), {"amount": [{"numeric": [">=", 1]}]})
        self.sns.publish(TopicArn=topic_arn("orders"), Message="now big enough",
                         MessageAttributes={"amount": {"DataType": "Number",
                                                       "StringValue": "5"}})
        self.assertEqual([m["Body"] for m in self.receive_all("big-orders", 1)],
                         ["now big enough"])

    def test_bad_declarations_stop_the_broker(self):
        cases = [
            ("topics:\n  - name: bad name!\n", "Topic Name"),
            ("topics:\n  - name: t\n    subscriptions:\n      - protocol: email\n"
             "        endpoint: a@example.com\n", "does not deliver"),
            ("topics:\n  - name: t\n    subscriptions:\n      - protocol: sqs\n"
             "        endpoint: q\n        attributes:\n          FilterPolicy: '{nope'\n",
             "FilterPolicy"),
            ("topics:\n  - name: t\n    subscriptions:\n      - protocol: sqs\n", "endpoint"),
            ("topics:\n  - name: t\n    colour: blue\n", "colour"),
        ]
        for text, needle in cases:
            with self.subTest(needle=needle):
                self.write(text)
                r = subprocess.run([os.path.join(BUILD, "sluiced"), "--listen", "127.0.0.1:0",
                                    "--config", self.conf] + self.store,
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(needle.encode(), r.stderr)


def main():
    global BUILD, REDIS
    BUILD, REDIS = broker.setup(redis=os.environ.get("SLUICE_IT_STORE") == "redis")
    prog = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()

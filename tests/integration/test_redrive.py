"""Dead-letter redrive through the SQS JSON API (StartMessageMoveTask,
ListMessageMoveTasks, CancelMessageMoveTask): messages dead-lettered from a queue
go back to it, or to a chosen destination. Runs on every store."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker  # noqa: E402

BROKER = None
REDIS = None
ARN = "arn:aws:sqs:us-east-1:000000000000:"


def call(op, payload, ok=200):
    status, headers, data = BROKER.post_json(op, payload)
    doc = json.loads(data or b"{}")
    if status != ok:
        raise AssertionError("%s -> %d %s" % (op, status, doc))
    return doc


class Redrive(unittest.TestCase):
    def dead_letter(self, src, dlq, bodies):
        call("CreateQueue", {"QueueName": dlq})
        url = call("CreateQueue", {"QueueName": src, "Attributes": {"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": ARN + dlq, "maxReceiveCount": "1"})}})["QueueUrl"]
        for b in bodies:
            call("SendMessage", {"QueueUrl": url, "MessageBody": b})
        for _ in range(len(bodies)):
            call("ReceiveMessage", {"QueueUrl": url, "VisibilityTimeout": 0})
        # The next receives move them to the DLQ instead of returning them.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = call("ReceiveMessage", {"QueueUrl": url, "VisibilityTimeout": 0,
                                          "MaxNumberOfMessages": 10})
            self.assertNotIn("Messages", got)
            n = int(call("GetQueueAttributes", {"QueueUrl": dlq, "AttributeNames": ["All"]})
                    ["Attributes"]["ApproximateNumberOfMessages"])
            if n == len(bodies):
                return url
        self.fail("messages did not reach the DLQ")

    def visible(self, q):
        return int(call("GetQueueAttributes", {"QueueUrl": q, "AttributeNames": ["All"]})
                   ["Attributes"]["ApproximateNumberOfMessages"])

    def test_back_to_source(self):
        self.dead_letter("rd-src", "rd-dlq", ["a", "b", "c"])
        h = call("StartMessageMoveTask", {"SourceArn": ARN + "rd-dlq"})["TaskHandle"]
        self.assertTrue(h)
        deadline = time.monotonic() + 15
        while self.visible("rd-src") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.visible("rd-src"), 3)
        self.assertEqual(self.visible("rd-dlq"), 0)
        got = call("ReceiveMessage", {"QueueUrl": "rd-src", "MaxNumberOfMessages": 10})
        self.assertEqual(sorted(m["Body"] for m in got["Messages"]), ["a", "b", "c"])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            res = call("ListMessageMoveTasks", {"SourceArn": ARN + "rd-dlq"})["Results"]
            if res[0]["Status"] != "RUNNING":
                break
            time.sleep(0.1)     # it completes when a receive finds the DLQ empty
        self.assertEqual(res[0]["Status"], "COMPLETED")
        self.assertEqual(res[0]["ApproximateNumberOfMessagesMoved"], 3)

    def test_to_destination_and_errors(self):
        self.dead_letter("rd2-src", "rd2-dlq", ["x"])
        call("CreateQueue", {"QueueName": "rd2-elsewhere"})
        call("StartMessageMoveTask", {"SourceArn": ARN + "rd2-dlq",
                                      "DestinationArn": ARN + "rd2-elsewhere",
                                      "MaxNumberOfMessagesPerSecond": 10})
        deadline = time.monotonic() + 15
        while self.visible("rd2-elsewhere") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.visible("rd2-elsewhere"), 1)
        # Not a dead-letter queue; unknown queue; unknown task.
        call("StartMessageMoveTask", {"SourceArn": ARN + "rd2-elsewhere"}, ok=400)
        call("StartMessageMoveTask", {"SourceArn": ARN + "no-such-queue"}, ok=400)
        call("CancelMessageMoveTask", {"TaskHandle": "nope"}, ok=400)
        call("StartMessageMoveTask", {}, ok=400)


if __name__ == "__main__":
    broker.main(sys.modules[__name__])

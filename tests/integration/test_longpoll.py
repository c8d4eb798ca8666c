"""Long polling through real sockets: a client that hangs up during a long poll
must not take messages (evhttp does not notice a closed peer while a request is
pending; sluiced watches the socket), and a live long poll wakes on a send.

Regression test: before the peer-close watch, the abandoned poll received the
next message and it stayed invisible for its visibility timeout."""

import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker  # noqa: E402

BROKER = None


def raw_long_poll(port, queue_url, wait):
    """Sends a JSON-protocol ReceiveMessage on a fresh socket and returns it."""
    body = json.dumps({"QueueUrl": queue_url, "WaitTimeSeconds": wait,
                       "MaxNumberOfMessages": 10}).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
              b"X-Amz-Target: AmazonSQS.ReceiveMessage\r\n"
              b"Content-Type: application/x-amz-json-1.0\r\n"
              b"Content-Length: %d\r\n\r\n" % (port, len(body)) + body)
    return s


class LongPoll(unittest.TestCase):
    def setUp(self):
        self.port = BROKER.port

    def call(self, op, payload):
        status, _, data = BROKER.post_json(op, payload)
        self.assertEqual(status, 200, data)
        return json.loads(data or b"{}")

    def test_abandoned_long_poll_takes_nothing(self):
        url = self.call("CreateQueue", {"QueueName": "lp-abandoned"})["QueueUrl"]
        socks = [raw_long_poll(self.port, url, 20) for _ in range(3)]
        time.sleep(0.3)
        for s in socks:
            s.close()                   # clients hang up mid-poll
        time.sleep(0.3)
        self.call("SendMessage", {"QueueUrl": url, "MessageBody": "for the living"})
        got = self.call("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 2})
        bodies = [m["Body"] for m in got.get("Messages", [])]
        self.assertEqual(bodies, ["for the living"])

    def test_send_wakes_long_poll(self):
        url = self.call("CreateQueue", {"QueueName": "lp-wake"})["QueueUrl"]
        result = {}

        def poll():
            t0 = time.monotonic()
            result["out"] = self.call("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 15})
            result["waited"] = time.monotonic() - t0

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        self.call("SendMessage", {"QueueUrl": url, "MessageBody": "wake up"})
        t.join(20)
        self.assertFalse(t.is_alive())
        self.assertEqual([m["Body"] for m in result["out"]["Messages"]], ["wake up"])
        self.assertLess(result["waited"], 15)   # answered on the send, not at the deadline

    def test_empty_long_poll_answers_at_deadline(self):
        url = self.call("CreateQueue", {"QueueName": "lp-empty"})["QueueUrl"]
        t0 = time.monotonic()
        out = self.call("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 1})
        waited = time.monotonic() - t0
        self.assertNotIn("Messages", out)
        self.assertGreaterEqual(waited, 0.9)

    def test_queue_default_wait(self):
        url = self.call("CreateQueue", {"QueueName": "lp-default",
                                        "Attributes": {"ReceiveMessageWaitTimeSeconds": "1"}})
        url = url["QueueUrl"]
        t0 = time.monotonic()
        out = self.call("ReceiveMessage", {"QueueUrl": url})
        self.assertNotIn("Messages", out)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)


if __name__ == "__main__":
    broker.main(sys.modules[__name__])

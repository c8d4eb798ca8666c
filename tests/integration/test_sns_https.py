#!/usr/bin/python3
"""https topic subscribers, through boto3 (SNS query protocol).

At start the test makes two throwaway CAs with python3-cryptography: the broker
is started with --sns-ca-file naming the first, the second it does not know.
Subscribers are Python http.server instances wrapped in ssl on loopback ports.

- A subscriber whose certificate (for 127.0.0.1, ::1 and localhost) chains to the
  trusted CA gets the SubscriptionConfirmation over TLS, confirms by fetching
  SubscribeURL, and receives the notification with a valid signature; a second
  notification reuses the kept-alive TLS connection. The URL names the host as an
  IPv4 address, an IPv6 literal in brackets, and a name.
- A subscriber whose certificate chains to the unknown CA gets nothing: the
  confirmation and, once confirmed with the token found in the DLQ, the
  notification fail verification and land in the subscription's DLQ with
  ErrorCode TLSError.
- A trusted certificate for another host name fails the same way.
- A request that finds its kept-alive connection closed by the server is sent
  again on a new connection, not counted as a failed delivery.
- A CA file that cannot be loaded stops sluiced at start.

Runs on every store (conformance). Usage: test_sns_https.py BUILD_DIR [REPO_DIR]
"""

import datetime
import http.server
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import boto3
    from botocore.config import Config
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
except ImportError as e:
    print("SKIP: %s for %s; run tests/install-deps.sh" % (e, sys.executable))
    sys.exit(77)

import broker  # noqa: E402
from test_sns import verify_signature  # noqa: E402

BROKER = None  # set by broker.main()
ACCOUNT = "000000000000"
PKI = tempfile.mkdtemp(prefix="sluice-pki.")


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_ca(tag):
    """A self-signed CA: (key, cert, path of its PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name("sluice test CA " + tag))
            .issuer_name(_name("sluice test CA " + tag))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path = _write(os.path.join(PKI, "ca-%s.pem" % tag),
                  cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_server_cert(ca, tag, dns_names, ips):
    """A server certificate signed by ca: (cert path, key path)."""
    ca_key, ca_cert, _ = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    san = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(a))
                                                   for a in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(_name(dns_names[0] if dns_names else ips[0]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path = _write(os.path.join(PKI, "%s.crt" % tag),
                       cert.public_bytes(serialization.Encoding.PEM))
    key_path = _write(os.path.join(PKI, "%s.key" % tag), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


TRUSTED = make_ca("trusted")
UNKNOWN = make_ca("unknown")
GOOD = make_server_cert(TRUSTED, "good", ["localhost"], ["127.0.0.1", "::1"])
STRANGER = make_server_cert(UNKNOWN, "stranger", ["localhost"], ["127.0.0.1"])
WRONG_NAME = make_server_cert(TRUSTED, "wrong-name", ["elsewhere.invalid"], [])


class TlsSubscriber:
    """An https endpoint on a loopback port: records (headers, body, client port)
    of what it is sent, answers 200. HTTP/1.1, so connections are kept alive.
    drop_second: the second request on a connection is read, then the connection
    closed unanswered (as a server whose keep-alive timeout struck just then)."""

    def __init__(self, cert, v6=False, drop_second=False):
        self.requests = []
        self.dropped = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode("utf-8")
                self.served = getattr(self, "served", 0) + 1
                if drop_second and self.served == 2:
                    with outer.lock:
                        outer.dropped.append(body)
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                # Recorded once answered: a test that saw it knows the connection is
                # free for the next request.
                with outer.lock:
                    outer.requests.append((dict(self.headers), body, self.client_address[1]))

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            address_family = socket.AF_INET6 if v6 else socket.AF_INET

            def get_request(self):
                # The handshake runs in the handler's thread, not in accept: a client
                # that gives up mid-handshake cannot stall the server.
                sock, addr = self.socket.accept()
                return ctx.wrap_socket(sock, server_side=True,
                                       do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass            # refused handshakes are the point of some tests

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert)
        self.server = Server(("::1" if v6 else "127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host="127.0.0.1"):
        return "https://%s:%d/hook" % (host, self.port)

    def of_type(self, kind):
        with self.lock:
            return [r for r in self.requests if r[0].get("x-amz-sns-message-type") == kind]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def client(service):
    return boto3.client(
        service, endpoint_url=BROKER.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30))


def queue_arn(name):
    return "arn:aws:sqs:us-east-1:%s:%s" % (ACCOUNT, name)


# One try and one immediate retry: failures reach the DLQ without waiting.
QUICK_POLICY = json.dumps({"healthyRetryPolicy": {"numRetries": 1, "numNoDelayRetries": 1,
                                                  "minDelayTarget": 1, "maxDelayTarget": 1}})


class Https(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sns = client("sns")
        cls.sqs = client("sqs")

    def setUp(self):
        self.tag = self.id().rsplit(".", 1)[1].replace("_", "-")[:50]

    def topic(self):
        return self.sns.create_topic(Name=self.tag + "-t")["TopicArn"]

    def dlq(self):
        name = self.tag + "-dlq"
        return name, self.sqs.create_queue(QueueName=name)["QueueUrl"]

    def drain(self, url, want, timeout=30.0):
        got = []
        broker.wait_until(lambda: self._receive(url, got) >= want, timeout, "%d DLQ messages"
                          % want)
        return got

    def _receive(self, url, got):
        r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageAttributeNames=["All"])
        for m in r.get("Messages", []):
            got.append(m)
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(got)

    def subscriber(self, cert, v6=False, drop_second=False):
        s = TlsSubscriber(cert, v6, drop_second)
        self.addCleanup(s.close)
        return s

    def test_trusted_subscriber_confirms_and_receives(self):
        # IP SANs (v4, and v6 in brackets), then a DNS SAN (with SNI).
        for n, host in enumerate(("127.0.0.1", "[::1]", "localhost")):
            with self.subTest(host=host):
                hook = self.subscriber(GOOD, v6=host == "[::1]")
                topic = self.sns.create_topic(Name="%s-%d" % (self.tag, n))["TopicArn"]
                r = self.sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=hook.url(host))
                self.assertEqual(r["SubscriptionArn"], "pending confirmation")
                headers, body, _ = broker.wait_until(
                    lambda: hook.of_type("SubscriptionConfirmation"),
                    what="the confirmation over TLS")[0]
                conf = json.loads(body)
                self.assertEqual(headers["x-amz-sns-topic-arn"], topic)
                verify_signature(self, conf)
                with urllib.request.urlopen(conf["SubscribeURL"], timeout=10) as resp:
                    self.assertEqual(resp.status, 200)
                subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
                self.assertEqual(len(subs), 1)
                sub = subs[0]["SubscriptionArn"]
                self.assertTrue(sub.startswith(topic + ":"))

                mid = self.sns.publish(TopicArn=topic, Message="over tls",
                                       Subject="s")["MessageId"]
                headers, body, port1 = broker.wait_until(lambda: hook.of_type("Notification"),
                                                         what="the notification")[0]
                env = json.loads(body)
                self.assertEqual((env["Type"], env["MessageId"], env["Message"]),
                                 ("Notification", mid, "over tls"))
                self.assertEqual(headers["x-amz-sns-subscription-arn"], sub)
                verify_signature(self, env)
                # The next delivery rides the kept-alive connection.
                self.sns.publish(TopicArn=topic, Message="again")
                notes = broker.wait_until(lambda: len(hook.of_type("Notification")) >= 2 and
                                          hook.of_type("Notification"), what="the second")
                self.assertEqual(json.loads(notes[1][1])["Message"], "again")
                self.assertEqual(notes[1][2], port1)

    def test_stale_kept_alive_connection_is_sent_again(self):
        hook = self.subscriber(GOOD, drop_second=True)
        topic = self.topic()
        dlq, dlq_url = self.dlq()
        # No retries: only the resend on a new connection can deliver.
        self.sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=hook.url(),
                           Attributes={"DeliveryPolicy": json.dumps(
                               {"healthyRetryPolicy": {"numRetries": 0}}),
                               "RedrivePolicy": json.dumps(
                               {"deadLetterTargetArn": queue_arn(dlq)})})
        conf = json.loads(broker.wait_until(lambda: hook.of_type("SubscriptionConfirmation"),
                                            what="the confirmation")[0][1])
        with urllib.request.urlopen(conf["SubscribeURL"], timeout=10) as resp:
            self.assertEqual(resp.status, 200)
        for i, text in enumerate(("one", "two")):
            self.sns.publish(TopicArn=topic, Message=text)
            notes = broker.wait_until(lambda: len(hook.of_type("Notification")) > i and
                                      hook.of_type("Notification"), what="notification " + text)
            self.assertEqual(json.loads(notes[i][1])["Message"], text)
        # Each went out first on the kept-alive connection, which the server dropped.
        self.assertEqual([json.loads(b)["Message"] for b in hook.dropped], ["one", "two"])
        r = self.sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1)
        self.assertEqual(r.get("Messages", []), [])

    def untrusted_lands_in_dlq(self, cert, why):
        hook = self.subscriber(cert)
        topic = self.topic()
        dlq, dlq_url = self.dlq()
        self.sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=hook.url("localhost"),
                           Attributes={"DeliveryPolicy": QUICK_POLICY,
                                       "RedrivePolicy": json.dumps(
                                           {"deadLetterTargetArn": queue_arn(dlq)})})
        # The confirmation cannot be delivered: it is dead-lettered, token and all.
        got = self.drain(dlq_url, 1)
        conf = json.loads(got[0]["Body"])
        self.assertEqual(conf["Type"], "SubscriptionConfirmation")
        attrs = got[0]["MessageAttributes"]
        self.assertEqual(attrs["ErrorCode"]["StringValue"], "TLSError")
        self.assertIn(why, attrs["ErrorMessage"]["StringValue"])
        # Confirmed out of band, the notification fails the same way.
        sub = self.sns.confirm_subscription(TopicArn=topic, Token=conf["Token"])["SubscriptionArn"]
        self.assertTrue(sub.startswith(topic + ":"))
        mid = self.sns.publish(TopicArn=topic, Message="must not leak")["MessageId"]
        got = self.drain(dlq_url, 1)
        env = json.loads(got[0]["Body"])
        self.assertEqual((env["Type"], env["MessageId"]), ("Notification", mid))
        self.assertEqual(got[0]["MessageAttributes"]["ErrorCode"]["StringValue"], "TLSError")
        self.assertEqual(hook.requests, [])         # not one request got through
        with open(BROKER.log_path, errors="replace") as f:
            self.assertIn("https certificate rejected", f.read())

    def test_unknown_ca_fails_to_dlq(self):
        self.untrusted_lands_in_dlq(STRANGER, "unable to get local issuer certificate")

    def test_wrong_host_name_fails_to_dlq(self):
        self.untrusted_lands_in_dlq(WRONG_NAME, "hostname mismatch")

    def test_bad_ca_file_stops_the_broker(self):
        bad = _write(os.path.join(PKI, "not-a-cert.pem"), b"hello\n")
        for path in (bad, os.path.join(PKI, "missing.pem")):
            r = subprocess.run([os.path.join(BUILD_DIR, "sluiced"), "--listen", "127.0.0.1:0",
                                "--sns-ca-file", path], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(b"--sns-ca-file", r.stderr)
            self.assertIn(path.encode(), r.stderr)


BUILD_DIR = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else ""

if __name__ == "__main__":
    try:
        broker.main(sys.modules[__name__], ["--sns-ca-file", TRUSTED[2]])
    finally:
        shutil.rmtree(PKI, ignore_errors=True)

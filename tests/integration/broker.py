"""Start and stop a private sluiced for one Python integration test.

    from broker import Broker, main
    BROKER = Broker(build_dir)      # picks a free loopback port
    BROKER.start()                  # waits (at most 10 s) for GET /healthz == 200
    ... BROKER.endpoint ...         # "http://127.0.0.1:PORT"
    BROKER.stop()                   # SIGTERM, then SIGKILL after 10 s
    BROKER.problems()               # [] or why the run is dirty (sanitizer report,
                                    # crash, died during the test)

`main(module_name)` runs a unittest module with one broker for the whole module
and fails the run when the broker's log is dirty. Raw HTTP helpers for the
cases botocore will not send live here too.
"""

import atexit
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import warnings
import xml.etree.ElementTree as ET

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE,
                 signal.SIGILL)
ACCOUNT = "000000000000"


def isolate_aws_env():
    """Dummy credentials, no endpoint from the environment, no ~/.aws."""
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
              "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_CA_BUNDLE"):
        os.environ.pop(k, None)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    })


def setup(redis=False):
    """The common start of a test script whose argv is BUILD_DIR [...]: AWS settings
    isolated, botocore's pooled-socket warnings off. Returns the build dir, and with
    redis=True also a private redis-server (stopped at exit); exits 77 (skipped) when
    redis-server is not installed, 2 without a build dir."""
    if len(sys.argv) < 2:
        print("usage: %s BUILD_DIR [...]" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    isolate_aws_env()
    # botocore keeps pooled sockets open until exit; not what these tests check
    # (unittest leaves the filters alone when sys.warnoptions is set)
    warnings.simplefilter("ignore", ResourceWarning)
    sys.warnoptions.append("ignore::ResourceWarning")
    build_dir = os.path.abspath(sys.argv[1])
    if not redis:
        return build_dir, None
    from redis_server import RedisServer, have_redis_server
    if not have_redis_server():
        print("SKIP: redis-server is not installed", file=sys.stderr)
        sys.exit(77)
    server = RedisServer().start()
    atexit.register(server.cleanup)
    return build_dir, server


def counts(client, url):
    """(visible, in flight, delayed) of a queue, through GetQueueAttributes."""
    a = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
            int(a["ApproximateNumberOfMessagesDelayed"]))


def wait_until(cond, timeout=20.0, what="condition"):
    """cond()'s first true value within timeout s; AssertionError after it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def md5_hex(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest()


def md5_of_attributes(attrs):
    """SQS MD5OfMessageAttributes of {name: {DataType, StringValue|BinaryValue}}."""
    buf = bytearray()

    def put(b):
        buf.extend(len(b).to_bytes(4, "big"))
        buf.extend(b)

    for name in sorted(attrs, key=lambda n: n.encode("utf-8")):
        a = attrs[name]
        put(name.encode("utf-8"))
        put(a["DataType"].encode("utf-8"))
        if "BinaryValue" in a:
            buf.append(2)
            v = a["BinaryValue"]
            put(v if isinstance(v, (bytes, bytearray)) else v.encode("utf-8"))
        else:
            buf.append(1)
            put(a["StringValue"].encode("utf-8"))
    return hashlib.md5(bytes(buf)).hexdigest()


def _die_with_parent():
    """In the child: get SIGTERM if the test process dies (a ctest timeout kill)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Broker:
    def __init__(self, build_dir, extra_args=()):
        self.bin = os.path.join(build_dir, "sluiced")
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.endpoint = None
        self.tmp = tempfile.mkdtemp(prefix="sluice-it.")
        self.log_path = None
        self._problems = []
        self._stopped_by_us = False
        self._ready = False       # became healthy once: a later exit is a death

    def start(self, timeout=10.0):
        if not os.access(self.bin, os.X_OK):
            raise RuntimeError("%s not found or not executable" % self.bin)
        for attempt in range(1, 4):
            self.port = free_port()
            self.log_path = os.path.join(self.tmp, "sluiced.%d.log" % attempt)
            log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(
                [self.bin, "--listen", "127.0.0.1:%d" % self.port,
                 "--store", "memory", "--log-level", "info"] + self.extra_args,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)
            log.close()
            atexit.register(self._kill)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.healthz():
                    self.endpoint = "http://127.0.0.1:%d" % self.port
                    self._ready = True
                    print("sluiced pid %d ready on %s" % (self.proc.pid, self.endpoint),
                          file=sys.stderr)
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
            if self.proc.poll() is None:
                self._kill()
                raise RuntimeError("sluiced not ready on port %d within %.0f s; log:\n%s"
                                   % (self.port, timeout, self.log_tail()))
            self._check_log()
            if self._problems:
                raise RuntimeError("sluiced died at start: %s" % self._problems)
            print("sluiced exited during start (attempt %d, rc %s):\n%s"
                  % (attempt, self.proc.returncode, self.log_tail()), file=sys.stderr)
        raise RuntimeError("sluiced did not start")

    def healthz(self, timeout=2.0):
        if self.port is None:
            return False
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port,
                                        timeout=timeout) as r:
                return r.status == 200
        except (OSError, http.client.HTTPException):
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._stopped_by_us = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                print("sluiced did not exit 10 s after SIGTERM; killing", file=sys.stderr)
                self.proc.kill()
                self.proc.wait()

    def kill9(self):
        """SIGKILL, as a crash or an OOM killer would: no drain, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self._stopped_by_us = True
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is None:
            return
        if self._ready and self.proc.poll() is not None and not self._stopped_by_us:
            self._problems.append("sluiced died during the test (rc %s)"
                                  % self.proc.returncode)
        self._kill()
        rc = self.proc.returncode
        if rc is not None and rc < 0 and -rc in CRASH_SIGNALS:
            self._problems.append("sluiced ended by signal %d" % -rc)
        elif rc not in (0, -signal.SIGTERM, -signal.SIGKILL, None):
            print("note: sluiced exit status %s after SIGTERM" % rc, file=sys.stderr)
        self._check_log()

    def _check_log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                text = f.read()
        except OSError:
            return
        for mark in SANITIZER_MARKS:
            i = text.find(mark)
            if i >= 0:
                self._problems.append("sanitizer report in %s:\n%s"
                                      % (self.log_path, text[max(0, i - 200):i + 3000]))
                break

    def problems(self):
        return list(self._problems)

    def cleanup(self, keep):
        """Remove the temp dir with the log, unless `keep` (a failed run)."""
        if keep:
            print("sluiced log kept in %s" % self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except (OSError, TypeError):
            return "(no log)"

    def queue_url(self, name):
        return "%s/%s/%s" % (self.endpoint, ACCOUNT, name)

    # ---- raw HTTP, for requests real clients will not send ----

    def post(self, body, headers=None, path="/", method="POST", timeout=30):
        """Send one request; return (status, {lower-case header: value}, body bytes)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def post_query(self, params, **kw):
        from urllib.parse import urlencode
        body = params if isinstance(params, (str, bytes)) else urlencode(params)
        return self.post(body, {"Content-Type":
                                "application/x-www-form-urlencoded; charset=utf-8"}, **kw)

    def post_json(self, op, payload, **kw):
        body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        return self.post(body, {"Content-Type": "application/x-amz-json-1.0",
                                "X-Amz-Target": "AmazonSQS." + op}, **kw)


def xml_strip_ns(root):
    for el in root.iter():
        if "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def parse_xml(data):
    return xml_strip_ns(ET.fromstring(data))


def query_error(data):
    """(Type, Code, Message) of a query-protocol ErrorResponse body."""
    root = parse_xml(data)
    err = root.find("Error") if root.tag != "Error" else root
    if err is None:
        raise AssertionError("no <Error> in %r" % data[:300])
    return (err.findtext("Type"), err.findtext("Code"), err.findtext("Message"))


def main(module, extra_args=()):
    """Run `module`'s unittest cases against one broker started with extra_args;
    argv: BUILD_DIR [REPO_DIR]."""
    # The conformance runs (tests/conformance/README.md) set SLUICE_IT_STORE=redis:
    # the same tests then run against a private redis-server.
    build_dir, redis = setup(redis=os.environ.get("SLUICE_IT_STORE") == "redis")
    extra = (["--store", redis.url] if redis else []) + list(extra_args)
    broker = Broker(build_dir, extra)
    module.REDIS = redis
    try:
        broker.start()
    except RuntimeError as e:
        print("FAIL: %s" % e, file=sys.stderr)
        broker.stop()
        for p in broker.problems():
            print("FAIL: %s" % p, file=sys.stderr)
        broker.cleanup(keep=True)
        sys.exit(1)
    module.BROKER = broker
    ok = False
    try:
        prog = unittest.main(module=module, argv=[sys.argv[0]], exit=False, verbosity=2)
        ok = prog.result.wasSuccessful()
        if not broker.alive():
            print("FAIL: sluiced is no longer running", file=sys.stderr)
            ok = False
    finally:
        broker.stop()
    for p in broker.problems():
        print("FAIL: %s" % p, file=sys.stderr)
        ok = False
    if not ok:
        print("sluiced log (last lines, %s):\n%s" % (broker.log_path, broker.log_tail()),
              file=sys.stderr)
    broker.cleanup(keep=not ok)
    sys.exit(0 if ok else 1)

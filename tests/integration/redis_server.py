"""A private redis-server for Python integration tests.

    from redis_server import RedisServer, have_redis_server
    if not have_redis_server(): sys.exit(77)        # skipped
    srv = RedisServer().start()    # 127.0.0.1, free port, temp dir, no persistence
    srv.url                        # "redis://127.0.0.1:PORT"
    srv.pause(); srv.resume()      # SIGSTOP / SIGCONT: a frozen server
    srv.stop(); srv.start()        # a restart keeps the port (and so the URL)
    srv.cleanup()                  # stop and remove the temp dir

The server is stopped by its pid, never by name, and dies with the test process
(PR_SET_PDEATHSIG) if a ctest timeout kills it.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def redis_server_bin():
    return os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server")


def have_redis_server():
    b = redis_server_bin()
    return bool(b) and os.access(b, os.X_OK)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class RedisServer:
    def __init__(self):
        self.bin = redis_server_bin()
        self.dir = tempfile.mkdtemp(prefix="sluice-redis.")
        self.port = None
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def ping(self, timeout=1.0):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args, timeout=5.0):
        """Sends one command; returns the first line of the reply (for tests
        that need FLUSHALL, SCRIPT FLUSH and the like)."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(out)
            return s.recv(65536).split(b"\r\n", 1)[0].decode(errors="replace")

    def start(self, timeout=10.0):
        if self.port is None:
            self.port = _free_port()
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [self.bin, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited at start (rc %s)" % self.proc.returncode)
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server not ready on port %d" % self.port)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

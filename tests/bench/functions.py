#!/usr/bin/env python3
"""functions.py BUILD_DIR - the function benchmarks of DESIGN.md §10 (run by functions.sh).

Every measurement starts its own sluiced (memory store) pinned to core 0; load
generators, function processes and the HTTP function server run on core 1.

  drain     a queue trigger (batch 10) draining a PRELOADED backlog of --messages
            256-byte messages into a no-op function: native (tests/bench/functions/
            bench_native.c), process (the C Lambda runtime answering null, 4 warm
            instances, through the Runtime API) and http (a trivial evhttp server,
            4 kept-alive connections). Rate = messages / (trigger created -> last message
            deleted), read from /v1/stats every 10 ms. The preload is sluice-bench's send
            phase, whose msg/s is reported too. Also reported: sluiced's CPU time (all
            threads, /proc schedstat) per invocation, which other load on the machine
            disturbs far less than the rate.
  ceiling   the reference measured in the same run: sluice-bench's send phase against
            `sluice-bench ceiling` (the trivial evhttp server), messages/s.
  latency   SendMessage stamp -> handler start, native handler, batch 1, no window, at a
            steady --rate msg/s for --seconds s (the first second is warm-up and
            dropped). The stamp is CLOCK_MONOTONIC taken just before the request is
            written, so the figure includes the HTTP request. Reference in the same
            broker: sluice-bench's phase 3 (send -> ReceiveMessage long poll) at the
            same rate.
  step      the autoscaler's step response: native handler sleeping 20 ms, batch 1,
            load steps from 0 to --step-rate msg/s; desired concurrency sampled every
            100 ms; settle time = from the step until desired stays within +-1 of its
            final value (the median of the last 5 s) to the end.
  cold      `test_invokers cold`: spawn -> first `next` minus a bare spawn.

Prints a Markdown summary with medians of --runs runs and the load average before and
after; raw figures go to BUILD_DIR/bench-results/functions-<UTC time>.json.
"""

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SIZE = 256


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def loadavg():
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


class Broker:
    def __init__(self, build, env=None):
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.log = tempfile.NamedTemporaryFile(prefix="sluice-fnbench.", suffix=".log",
                                               delete=False)
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0", os.path.join(build, "sluiced"), "--listen",
             "127.0.0.1:%d" % self.port, "--store", "memory", "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT, env=e)
        for _ in range(1000):
            try:
                with urllib.request.urlopen(self.endpoint + "/healthz", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.01)
        raise RuntimeError("sluiced did not start")

    def api(self, method, path, body=None):
        req = urllib.request.Request(self.endpoint + path, method=method,
                                     data=json.dumps(body).encode() if body is not None
                                     else None, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s: %d %s" % (method, path, e.code, e.read()[:300]))

    def cpu_ns(self):
        """CPU time sluiced has used so far, all threads (schedstat), in ns."""
        total = 0
        task_dir = "/proc/%d/task" % self.proc.pid
        for t in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, t, "schedstat")) as fh:
                    total += int(fh.read().split()[0])
            except OSError:
                pass                    # a thread that just ended
        return total

    def trigger_state(self, tid, conn):
        conn.request("GET", "/v1/stats")
        st = json.loads(conn.getresponse().read())
        return next(t["state"] for t in st["triggers"] if t["id"] == tid)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def bench_tool(build, *args):
    out = subprocess.run(["taskset", "-c", "1", os.path.join(build, "sluice-bench")] +
                         list(args) + ["--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


# ---- drain ----

def drain(build, kind, messages, http_port):
    b = Broker(build)
    try:
        q = "drain"
        pre = bench_tool(build, "run", "--endpoint", b.endpoint, "--queue", q, "--create",
                         "--phases", "1", "--messages", str(messages), "--size", str(SIZE))
        fn = {"name": "noop", "timeout_ms": 10000}
        if kind == "native":
            fn.update(kind="native", library=os.path.join(build, "tests",
                                                          "libsluice_bench_native.so"),
                      max_concurrency=2, min_concurrency=2)
        elif kind == "process":
            fn.update(kind="process", command="exec taskset -c 1 %s null" %
                      os.path.join(build, "tests", "sluice_test_c_runtime"),
                      max_concurrency=4, min_concurrency=4)
        else:
            fn.update(kind="http", url="http://127.0.0.1:%d/" % http_port,
                      max_concurrency=4, min_concurrency=4)
        b.api("POST", "/v1/functions", fn)
        time.sleep(1.0)                 # min_concurrency instances start warm
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=60)
        c0 = b.cpu_ns()
        t0 = time.monotonic()
        tid = b.api("POST", "/v1/triggers", {"source": "queue:" + q, "function": "noop",
                                             "batch_size": 10})["id"]
        deadline = t0 + 600
        while True:
            st = b.trigger_state(tid, conn)
            if st["messages_ok"] >= messages or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        t1 = time.monotonic()
        c1 = b.cpu_ns()
        left = b.api("GET", "/v1/queues/" + q)["attributes"]
        return {"kind": kind, "messages": st["messages_ok"], "seconds": t1 - t0,
                "msg_per_s": st["messages_ok"] / (t1 - t0),
                "invocations_per_s": st["invocations"] / (t1 - t0),
                "invocations": st["invocations"], "errors": st["errors"],
                "broker_cpu_us_per_invocation": (c1 - c0) / 1e3 / max(1, st["invocations"]),
                "left_in_queue": int(left["ApproximateNumberOfMessages"]) +
                int(left["ApproximateNumberOfMessagesNotVisible"]),
                "preload_msg_per_s": pre["send"]["msg_per_s"]}
    finally:
        b.stop()


def ceiling(build, messages):
    port = free_port()
    p = subprocess.Popen(["taskset", "-c", "0", os.path.join(build, "sluice-bench"), "ceiling",
                          "--listen", "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        p.stdout.readline()             # "listening on ..."
        r = bench_tool(build, "run", "--endpoint", "http://127.0.0.1:%d" % port, "--no-verify",
                       "--phases", "1", "--messages", str(messages))
        return r["send"]["msg_per_s"]
    finally:
        p.terminate()
        p.wait()


# ---- latency ----

def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100.0))]


def paced_send(port, queue, rate, seconds):
    """Sends rate msg/s for seconds through the native API; returns how many."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    path = "/v1/queues/%s/messages" % queue
    t0 = time.monotonic()
    n = 0
    while True:
        due = t0 + n / rate
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        stamp = "t-%d-" % time.monotonic_ns()
        body = json.dumps({"body": stamp + "x" * (SIZE - len(stamp))})
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError("send: %d" % r.status)
        n += 1
    return n


def latency(build, rate, seconds):
    out = tempfile.NamedTemporaryFile(prefix="sluice-fnlat.", delete=False)
    out.close()
    b = Broker(build, {"SLUICE_BENCH_LATENCY_OUT": out.name})
    try:
        ref = bench_tool(build, "run", "--endpoint", b.endpoint, "--queue", "ref", "--create",
                         "--phases", "3", "--latency-rate", str(rate), "--latency-duration",
                         str(min(seconds, 5)))["latency"]["e2e_ms"]
        b.api("POST", "/v1/queues", {"name": "lat"})
        b.api("POST", "/v1/functions", {"name": "lat", "kind": "native", "library":
                                        os.path.join(build, "tests",
                                                     "libsluice_bench_native.so"),
                                        "min_concurrency": 2, "max_concurrency": 2})
        tid = b.api("POST", "/v1/triggers", {"source": "queue:lat", "function": "lat",
                                             "batch_size": 1})["id"]
        sent = paced_send(b.port, "lat", rate, seconds)
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=30)
        for _ in range(500):
            if b.trigger_state(tid, conn)["messages_ok"] >= sent:
                break
            time.sleep(0.02)
        with open(out.name) as fh:
            v = [int(x) / 1e6 for x in fh.read().split()]
        warm = v[rate:]                  # drop the first second
        return {"sent": sent, "recorded": len(v), "p50_ms": percentile(warm, 50),
                "p99_ms": percentile(warm, 99), "max_ms": max(warm),
                "ref_receive_p50_ms": ref["p50"], "ref_receive_p99_ms": ref["p99"]}
    finally:
        b.stop()
        os.unlink(out.name)


# ---- step ----

def step(build, rate, seconds, sleep_us):
    import threading

    b = Broker(build, {"SLUICE_BENCH_SLEEP_US": str(sleep_us)})
    try:
        b.api("POST", "/v1/queues", {"name": "step"})
        b.api("POST", "/v1/functions", {"name": "step", "kind": "native", "library":
                                        os.path.join(build, "tests",
                                                     "libsluice_bench_native.so"),
                                        "max_concurrency": 64})
        tid = b.api("POST", "/v1/triggers", {"source": "queue:step", "function": "step",
                                             "batch_size": 1})["id"]
        samples = []
        stop = threading.Event()

        def sample():
            conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=30)
            t0 = time.monotonic()
            while not stop.is_set():
                samples.append((time.monotonic() - t0, b.trigger_state(tid, conn)["desired"]))
                time.sleep(0.1)

        th = threading.Thread(target=sample)
        th.start()
        time.sleep(0.5)
        t_step = samples[-1][0] if samples else 0.0
        paced_send(b.port, "step", rate, seconds)
        stop.set()
        th.join()
        tail = [d for t, d in samples if t >= samples[-1][0] - 5]
        final = statistics.median(tail)
        settled = t_step
        for t, d in samples:
            if t >= t_step and abs(d - final) > 1:
                settled = t
        return {"rate": rate, "handler_ms": sleep_us / 1000, "final_desired": final,
                "expected": rate * sleep_us / 1e6, "settle_s": settled - t_step,
                "peak_desired": max(d for _, d in samples)}
    finally:
        b.stop()


def cold(build):
    out = subprocess.run([os.path.join(build, "tests", "test_invokers"), "cold"], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"sluice spawn->first next (\d+) us; bare spawn->first request (\d+) us "
                  r"direct, (\d+) us via /bin/sh -c", out)
    s, bare, sh = (int(x) for x in m.groups())
    return {"sluice_us": s, "bare_us": bare, "bare_sh_us": sh, "overhead_us": s - bare,
            "overhead_over_sh_us": s - sh}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--step-rate", type=int, default=400)
    ap.add_argument("--step-seconds", type=int, default=40)
    ap.add_argument("--only", default="ceiling,drain,latency,step,cold")
    a = ap.parse_args()
    only = set(a.only.split(","))
    build = os.path.abspath(a.build)
    os.sched_setaffinity(0, {1})        # this driver (sender, poller) on the load core
    res = {"load_before": loadavg(), "runs": []}

    # the HTTP function: test_invokers' trivial evhttp server, on core 1
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    http_port = srv.getsockname()[1]
    server = subprocess.Popen(["taskset", "-c", "1", os.path.join(build, "tests",
                                                                  "test_invokers"),
                               "server", str(srv.fileno())], pass_fds=(srv.fileno(),))
    srv.close()
    try:
        for i in range(a.runs):
            run = {}
            if "ceiling" in only:
                run["ceiling_send_msg_per_s"] = ceiling(build, 200000)
            if "drain" in only:
                for kind in ("native", "process", "http"):
                    run["drain_" + kind] = drain(build, kind, a.messages, http_port)
            if "latency" in only:
                run["latency"] = latency(build, a.rate, a.seconds)
            if "step" in only:
                run["step"] = step(build, a.step_rate, a.step_seconds, 20000)
            if "cold" in only:
                run["cold"] = cold(build)
            res["runs"].append(run)
            print("run %d: %s" % (i + 1, json.dumps(run)), file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait()
    res["load_after"] = loadavg()
    os.makedirs(os.path.join(build, "bench-results"), exist_ok=True)
    path = os.path.join(build, "bench-results",
                        "functions-%s.json" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    with open(path, "w") as fh:
        json.dump(res, fh, indent=1)
    summarize(res, path)


def med(runs, *keys):
    v = []
    for r in runs:
        for k in keys:
            r = r.get(k) if isinstance(r, dict) else None
        if r is not None:
            v.append(r)
    return statistics.median(v) if v else None


def summarize(res, path):
    R = res["runs"]
    ceil = med(R, "ceiling_send_msg_per_s")
    print("functions benchmark: %d run(s), medians; load average %s before, %s after; raw: %s"
          % (len(R), res["load_before"], res["load_after"], path))
    print()
    print("| figure | measured | reference | ratio | target |")
    print("|---|---:|---:|---:|---|")
    if ceil:
        print("| evhttp ceiling, SendMessageBatch msg/s | %.0f | | | |" % ceil)
    for kind, unit, target in (("native", "msg_per_s", "≥ 200,000 msg/s"),
                               ("process", "invocations_per_s", "≥ 5,000 invocations/s"),
                               ("http", "invocations_per_s", "≥ 8,000 invocations/s")):
        m = med(R, "drain_" + kind, unit)
        if m is None:
            continue
        msgs = med(R, "drain_" + kind, "msg_per_s")
        cpu = med(R, "drain_" + kind, "broker_cpu_us_per_invocation")
        # ratios per run (each against its own run's reference), then the median
        pre = statistics.median(r["drain_" + kind]["msg_per_s"] /
                                r["drain_" + kind]["preload_msg_per_s"] for r in R)
        ceil_ratio = ("; %.2f of the ceiling" % statistics.median(
            r["drain_" + kind]["msg_per_s"] / r["ceiling_send_msg_per_s"] for r in R)
            if ceil else "")
        print("| drain %s, %s (%.0f msg/s); sluiced CPU per invocation %.1f us "
              "(= %.0f/s on a whole core) | %.0f | preload send, ceiling | %.2f of preload%s "
              "| %s |" % (kind, unit.replace("_per_s", "/s"), msgs, cpu, 1e6 / cpu, m, pre,
                          ceil_ratio, target))
    if med(R, "latency", "p99_ms") is not None:
        print("| send -> handler start p50 / p99 / max at 1000 msg/s, ms | %.3f / %.3f / %.3f | "
              "send -> ReceiveMessage p50 / p99 %.3f / %.3f | | p99 ≤ 2 ms |" % (
                  med(R, "latency", "p50_ms"), med(R, "latency", "p99_ms"),
                  med(R, "latency", "max_ms"), med(R, "latency", "ref_receive_p50_ms"),
                  med(R, "latency", "ref_receive_p99_ms")))
    if med(R, "step", "settle_s") is not None:
        print("| autoscaler step 0 -> %d msg/s (20 ms handler): settle s, final desired "
              "(λ·d = %.0f), peak | %.1f s, %.0f, %.0f | | | |" % (
                  R[0]["step"]["rate"], med(R, "step", "expected"), med(R, "step", "settle_s"),
                  med(R, "step", "final_desired"), med(R, "step", "peak_desired")))
    if med(R, "cold", "overhead_us") is not None:
        print("| cold start: spawn -> first next, ms | %.2f | bare spawn %.2f (via sh %.2f) | "
              "+%.2f ms (+%.2f over sh) | ≤ +5 ms |" % (
                  med(R, "cold", "sluice_us") / 1000, med(R, "cold", "bare_us") / 1000,
                  med(R, "cold", "bare_sh_us") / 1000, med(R, "cold", "overhead_us") / 1000,
                  med(R, "cold", "overhead_over_sh_us") / 1000))


if __name__ == "__main__":
    main()

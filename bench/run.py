#!/usr/bin/env python3
"""Studium load benchmark.

Starts the release binary on SQLite and on PostgreSQL in turn, drives endpoints with wrk (a
separate process) and prints one table: requests/s, p50 and p99 latency, non-2xx answers, and
each endpoint's ratio to the trivial-endpoint ceiling (`GET /healthz`) measured in the same run.
Also reports the server's resident memory when idle and at its peak under load.

    python3 bench/run.py                      # both backends, 10 s per endpoint
    python3 bench/run.py --backends sqlite --duration 5
    STUDIUM_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432 python3 bench/run.py
    python3 bench/run.py --no-build --binary /path/to/studium --only healthz,doubts --connections 4,16,64
    python3 bench/run.py --only healthz,doubts --connections 64 --think-ms 1000 --warmup 3

See bench/README.md for how to read the figures.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("STUDIUM_BENCH_BINARY") or os.path.join(ROOT, "target", "release", "studium")
SCENARIOS = ("healthz", "readyz", "me", "lessons", "complete", "doubts", "quizzes")
PASSWORD = "bench-password-that-is-long-enough-42"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_wrk():
    if shutil.which("wrk"):
        return
    log("bench: installing wrk from Debian's packages")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def build():
    log("bench: cargo build --release")
    subprocess.run(["cargo", "build", "--release", "--bin", "studium"], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            text = res.read().decode()
            return res.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        return err.code, (json.loads(text) if text else None)


def cpu_ticks(pid):
    """User plus system CPU time the process has used so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return int(fields[11]) + int(fields[12])


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, backend, pg_url, workdir):
        self.backend = backend
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.pg_db = None
        if backend == "sqlite":
            self.db_url = f"sqlite://{os.path.join(workdir, 'bench.db')}"
        else:
            self.pg_db = f"studium_bench_{uuid.uuid4().hex[:12]}"
            subprocess.run(["psql", f"{pg_url}/postgres", "-qc", f'CREATE DATABASE "{self.pg_db}"'], check=True)
            self.db_url = f"{pg_url}/{self.pg_db}"
        self.pg_url = pg_url
        self.env = dict(
            # The benchmark's own settings are not the server's (it refuses unknown STUDIUM_ names).
            {k: v for k, v in os.environ.items() if not k.startswith("STUDIUM_BENCH_")},
            STUDIUM_DATABASE_URL=self.db_url,
            STUDIUM_BIND=f"127.0.0.1:{self.port}",
            STUDIUM_SEED_DEMO="false",
            STUDIUM_STORAGE_URL=os.path.join(workdir, "uploads"),
            STUDIUM_RATE_LIMIT_REGISTER_PER_IP="1000000",
            STUDIUM_RATE_LIMIT_LOGIN_PER_IP="1000000",
            # The tutor and quiz scenarios measure the server, not the plans' daily allowances.
            STUDIUM_PLAN_FREE_DOUBT_PER_DAY="100000000",
            STUDIUM_PLAN_FREE_QUIZ_PER_DAY="100000000",
            RUST_LOG="warn",
        )
        self.proc = None

    def run_command(self, *args):
        subprocess.run([BINARY, *args], env=self.env, check=True, stdout=subprocess.DEVNULL)

    def start(self):
        self.proc = subprocess.Popen([BINARY, "serve"], env=self.env, stdout=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if http("GET", f"{self.base}/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.backend} server did not become ready")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.pg_db:
            subprocess.run(
                ["psql", f"{self.pg_url}/postgres", "-qc", f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)'],
                check=False,
            )


class PeakRss:
    """Samples the server's resident memory while a load runs."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()


def lua_rotating(method, pairs):
    """A wrk script sending `method` to (path, token) pairs in turn, one list per thread."""
    entries = ",\n".join(f'{{"{path}", "{token}"}}' for path, token in pairs)
    return f"""
local pairs = {{
{entries}
}}
local i = 0
local counter = 0
setup = function(thread)
  thread:set("offset", counter)
  counter = counter + 1
end
init = function(args)
  i = offset or 0
end
request = function()
  i = i + 1
  local p = pairs[(i % #pairs) + 1]
  return wrk.format("{method}", p[1], {{["Authorization"] = "Bearer " .. p[2], ["Content-Type"] = "application/json"}}, "{{}}")
end
"""


def lua_rotating_bodies(method, triples):
    """A wrk script sending `method` with a JSON body to (path, token, body) triples in turn."""
    def lua_string(text):
        return "[==[" + text + "]==]"
    entries = ",\n".join(f'{{"{path}", "{token}", {lua_string(json.dumps(body))}}}' for path, token, body in triples)
    return f"""
local entries = {{
{entries}
}}
local i = 0
local counter = 0
setup = function(thread)
  thread:set("offset", counter)
  counter = counter + 1
end
init = function(args)
  i = (offset or 0) * 7
end
request = function()
  i = i + 1
  local e = entries[(i % #entries) + 1]
  return wrk.format("{method}", e[1], {{["Authorization"] = "Bearer " .. e[2], ["Content-Type"] = "application/json"}}, e[3])
end
"""


def lua_think(mean_ms):
    """wrk's pause before each request of a connection: exponentially distributed with mean
    `mean_ms`, so each connection is a student who reads the answer before asking again (the
    arrivals of many such students are close to a Poisson stream) instead of a client that asks
    again the instant it is answered."""
    return f"""
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
delay = function()
  return math.floor(-{mean_ms} * math.log(1 - math.random()))
end
"""


def tutor_questions():
    """The retrieval evaluation's questions: what students ask of the demo lessons."""
    path = os.path.join(ROOT, "eval", "retrieval_questions.toml")
    with open(path) as f:
        return re.findall(r'^question\s*=\s*"(.*)"\s*$', f.read(), re.M)[:60]


def quiz_answers(base, token):
    """(quiz id, answers) of every demo quiz: each question answered with its first option."""
    out = []
    status, subjects = http("GET", f"{base}/api/v1/subjects?limit=100", token=token)
    if status != 200:
        return out
    for subject in subjects["items"]:
        _, topics = http("GET", f"{base}/api/v1/subjects/{subject['id']}/topics?limit=100", token=token)
        for topic in topics["items"]:
            status, quizzes = http("GET", f"{base}/api/v1/topics/{topic['id']}/quizzes?limit=100", token=token)
            if status != 200:
                continue
            for quiz in quizzes["items"]:
                _, full = http("GET", f"{base}/api/v1/quizzes/{quiz['id']}", token=token)
                answers = [{"question_id": q["id"], "answer": q["options"][0]} for q in full["questions"]]
                out.append((quiz["id"], answers))
    return out


def wrk(url, duration, connections, threads, headers=None, script=None, server_pid=None):
    """One wrk run; with `server_pid`, also the server's CPU milliseconds per request."""
    before = cpu_ticks(server_pid) if server_pid else None
    result = run_wrk(url, duration, connections, threads, headers, script)
    if server_pid:
        ms = (cpu_ticks(server_pid) - before) * 1000 / os.sysconf("SC_CLK_TCK")
        result["cpu_ms"] = ms / result["requests"] if result["requests"] else 0
    return result


def run_wrk(url, duration, connections, threads, headers=None, script=None):
    cmd = ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s"]
    for h in headers or []:
        cmd += ["-H", h]
    script_path = None
    if script:
        fd, script_path = tempfile.mkstemp(suffix=".lua")
        with os.fdopen(fd, "w") as f:
            f.write(script)
        cmd += ["-s", script_path]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if script_path:
        os.unlink(script_path)
    return parse_wrk(out)


def to_ms(value):
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "requests": total,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def register(base, n):
    tokens = []
    for _ in range(n):
        status, body = http(
            "POST",
            f"{base}/api/v1/auth/register",
            {"email": f"bench-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD, "full_name": "Bench User"},
        )
        if status != 201:
            raise RuntimeError(f"register failed: {status} {body}")
        tokens.append(body["access_token"])
    return tokens


def content_ids(base, token):
    """(topic id, [lesson ids]) of the seeded content, when the content API is there."""
    status, subjects = http("GET", f"{base}/api/v1/subjects?limit=100", token=token)
    if status != 200:
        return None, []
    lessons, first_topic = [], None
    for subject in subjects["items"]:
        _, topics = http("GET", f"{base}/api/v1/subjects/{subject['id']}/topics?limit=100", token=token)
        for topic in topics["items"]:
            first_topic = first_topic or topic["id"]
            _, page = http("GET", f"{base}/api/v1/topics/{topic['id']}/lessons?limit=100", token=token)
            lessons += [lesson["id"] for lesson in page["items"]]
    return first_topic, lessons


def bench_backend(backend, args, pg_url, rows, memory):
    workdir = tempfile.mkdtemp(prefix=f"studium-bench-{backend}-")
    server = Server(backend, pg_url, workdir)
    try:
        server.run_command("migrate")
        try:
            server.run_command("seed-demo")
        except subprocess.CalledProcessError:
            log("bench: seed-demo is not available; content endpoints are skipped")
        server.start()
        time.sleep(1)
        idle = rss_kb(server.proc.pid)
        base, d, t, pid = server.base, args.duration, args.threads, server.proc.pid
        only = args.only
        tokens = register(base, 64)
        results = []
        with PeakRss(server.proc.pid) as peak:
            for c in args.connections:
                ceiling = None

                def run(name, url, connections=c, **kw):
                    nonlocal ceiling
                    if args.think_ms and kw.get("script"):
                        kw["script"] += lua_think(args.think_ms)
                        name += f", {args.think_ms:g} ms mean think time"
                    if args.warmup:
                        # Unmeasured: lazily built state (the tokenizer's tables, statement
                        # caches, remembered passages) is built here, not in the figures.
                        run_wrk(url, args.warmup, connections, min(t, connections), kw.get("headers"), kw.get("script"))
                    log(f"bench[{backend}, {connections} connections]: {name}")
                    r = wrk(url, d, connections, min(t, connections), server_pid=pid, **kw)
                    r["connections"] = connections
                    if url == f"{base}/healthz":
                        ceiling = r["rps"]
                    results.append((name, r, ceiling))

                if "healthz" in only:
                    run("GET /healthz (ceiling)", f"{base}/healthz")
                if "readyz" in only:
                    run("GET /readyz (one SELECT 1)", f"{base}/readyz")
                if "me" in only:
                    run("GET /api/v1/me", f"{base}/api/v1/me",
                        script=lua_rotating("GET", [("/api/v1/me", tok) for tok in tokens]))
                topic, lessons = content_ids(base, tokens[0]) if {"lessons", "complete"} & only else (None, [])
                if topic and "lessons" in only:
                    path = f"/api/v1/topics/{topic}/lessons"
                    run("GET /api/v1/topics/{id}/lessons", f"{base}{path}",
                        script=lua_rotating("GET", [(path, tok) for tok in tokens]))
                if lessons and "complete" in only and c == args.connections[0]:
                    # 64 clients, each a different user, each completing a different lesson first.
                    pairs = [
                        (f"/api/v1/lessons/{lessons[(u + k) % len(lessons)]}/complete", tokens[u])
                        for k in range(len(lessons))
                        for u in range(len(tokens))
                    ]
                    run("POST /api/v1/lessons/{id}/complete", f"{base}/", connections=64,
                        script=lua_rotating("POST", pairs))
                questions = tutor_questions() if "doubts" in only else []
                if questions:
                    triples = [
                        ("/api/v1/doubts", tokens[u], {"message": questions[(u + k) % len(questions)]})
                        for k in range(len(questions))
                        for u in range(len(tokens))
                    ]
                    run("POST /api/v1/doubts (offline tutor)", f"{base}/",
                        script=lua_rotating_bodies("POST", triples))
                quizzes = quiz_answers(base, tokens[0]) if "quizzes" in only else []
                if quizzes:
                    triples = [
                        (f"/api/v1/quizzes/{quiz}/attempts", tokens[u], {"answers": answers})
                        for quiz, answers in quizzes
                        for u in range(len(tokens))
                    ]
                    run("POST /api/v1/quizzes/{id}/attempts", f"{base}/",
                        script=lua_rotating_bodies("POST", triples))
        memory[backend] = (idle, peak.peak)
        for name, r, ceiling in results:
            rows.append((name, backend, r, r["rps"] / ceiling if ceiling else 0))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument(
        "--connections", default="64", help="wrk connections; a comma list runs every endpoint at each"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--warmup", type=int, default=0,
        help="seconds of the same load, unmeasured, before each measured run",
    )
    parser.add_argument(
        "--think-ms", type=float, default=0,
        help="mean pause (exponential) before each scripted request of a connection: the offered "
        "load is then about connections / (think time + latency) instead of as fast as answered",
    )
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--binary", help="the studium binary to run (default: $STUDIUM_BENCH_BINARY or target/release)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="endpoints to drive: " + ",".join(SCENARIOS))
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    args.only = {s.strip() for s in args.only.split(",")}
    unknown = args.only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")
    if args.binary:
        global BINARY
        BINARY = os.path.abspath(args.binary)
    pg_url = os.environ.get("STUDIUM_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")

    ensure_wrk()
    if not args.no_build:
        build()
    rows, memory = [], {}
    for backend in args.backends.split(","):
        bench_backend(backend.strip(), args, pg_url, rows, memory)

    connections = ",".join(str(c) for c in args.connections)
    think = f", {args.think_ms:g} ms mean think time" if args.think_ms else ""
    print(f"\nStudium benchmark — wrk, {connections} connections{think}, {args.duration} s per endpoint, {os.cpu_count()} CPUs\n")
    print("| endpoint | backend | conns | req/s | p50 ms | p99 ms | server CPU ms/req | non-2xx | socket errors | ratio to ceiling |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, backend, r, ratio in rows:
        print(
            f"| {name} | {backend} | {r['connections']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} "
            f"| {r['cpu_ms']:.2f} | {r['non2xx']} | {r['socket_errors']} | {ratio:.1%} |"
        )
    print("\n| backend | RSS idle | RSS peak under load |")
    print("|---|---:|---:|")
    for backend, (idle, peak) in memory.items():
        print(f"| {backend} | {idle / 1024:.1f} MiB | {peak / 1024:.1f} MiB |")


if __name__ == "__main__":
    main()

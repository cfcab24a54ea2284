#!/usr/bin/env python3
"""Leaderboard benchmark: 100k users and 2M xp_logs on SQLite and PostgreSQL, against the
same ranking kept in a Redis sorted set (ZINCRBY per award; ZREVRANGE + ZREVRANK per read).

    python3 bench/leaderboard.py [--users 100000] [--xp 2000000] [--reads 500]

Needs the studium binary (STUDIUM_BENCH_BINARY, else target/release, else target/debug), psql and sqlite3 on PATH, a
PostgreSQL at STUDIUM_BENCH_PG (default postgres://postgres@127.0.0.1:5432) and Redis at
127.0.0.1:6379. Data is generated in SQL (generate_series on PostgreSQL, a recursive CTE on
SQLite), so generation takes seconds, not hours. Prints a table: measure, backend, p50, p99.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time


def server_env():
    """This environment minus the benchmark's own STUDIUM_BENCH_* settings, which the server
    would refuse as unknown configuration."""
    return {k: v for k, v in os.environ.items() if not k.startswith("STUDIUM_BENCH_")}


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG = os.environ.get("STUDIUM_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "studium_lb_bench"
SQLITE = "/tmp/studium-lb-bench.db"
PORT = 18732
PASSWORD = "Zq8#long-unusual-phrase-42"


def binary():
    if os.environ.get("STUDIUM_BENCH_BINARY"):
        return os.environ["STUDIUM_BENCH_BINARY"], "given"
    for kind in ("release", "debug"):
        path = os.path.join(ROOT, "target", kind, "studium")
        if os.path.exists(path):
            return path, kind
    sys.exit("build studium first (cargo build --release)")


def psql(sql, db=PG_DB):
    subprocess.run(["psql", f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True)


def sqlite(sql):
    subprocess.run(["sqlite3", SQLITE], input=sql, text=True, check=True)


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Api:
    def __init__(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)

    def call(self, method, path, body=None, token=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        res = self.conn.getresponse()
        data = res.read()
        return res.status, (json.loads(data) if data else None)


def timed_reads(api, path, token, n):
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = api.call("GET", path, token=token)
        samples.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
    return samples


def reads_after_changes(api, path, token, n):
    """n timed reads of path, each right after an untimed change of my profile."""
    samples = []
    for i in range(n):
        status, _ = api.call("PATCH", "/api/v1/me/profile", {"bio": f"bench {i}"}, token=token)
        assert status == 200, status
        t = time.perf_counter()
        status, _ = api.call("GET", path, token=token)
        samples.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
    return samples


def generation_sql(backend, users, xp, start, secs, now):
    if backend == "postgres":
        return f"""
INSERT INTO users (id, email, password_hash, role, is_active, auth_provider, is_verified, created_at, updated_at)
  SELECT gen_random_uuid(), 'u' || g || '@bench.example', NULL, 'student', true, 'email', true, now(), now()
  FROM generate_series(1, {users}) g;
INSERT INTO user_profiles (id, user_id, full_name, daily_goal_minutes, timezone, onboarding_completed, created_at, updated_at)
  SELECT gen_random_uuid(), id, 'Bench ' || email, 30, 'UTC', false, now(), now() FROM users WHERE email LIKE '%@bench.example';
CREATE TABLE bench_users AS SELECT row_number() OVER () AS n, id FROM users WHERE email LIKE '%@bench.example';
CREATE INDEX ON bench_users (n);
INSERT INTO xp_logs (id, user_id, xp_amount, source_type, reference_id, description, created_at)
  SELECT gen_random_uuid(), b.id, 1 + (random() * 19)::int, 'doubt', gen_random_uuid(), 'bench',
         TIMESTAMPTZ '{start.isoformat()}' + random() * INTERVAL '{secs} seconds'
  FROM (SELECT 1 + floor(power(random(), 2) * {users})::int AS n FROM generate_series(1, {xp})) r
  JOIN bench_users b ON b.n = LEAST(r.n, {users});
INSERT INTO leaderboard_scores (period_type, period_start, user_id, xp)
  SELECT 'weekly', CAST(date_trunc('week', created_at AT TIME ZONE 'UTC') AS DATE), user_id, SUM(xp_amount) FROM xp_logs GROUP BY 2, 3;
INSERT INTO leaderboard_scores (period_type, period_start, user_id, xp)
  SELECT 'monthly', CAST(date_trunc('month', created_at AT TIME ZONE 'UTC') AS DATE), user_id, SUM(xp_amount) FROM xp_logs GROUP BY 2, 3;
ANALYZE;
"""
    start_epoch = int(start.timestamp())
    return f"""
PRAGMA journal_mode=WAL;
BEGIN;
INSERT INTO users (id, email, password_hash, role, is_active, auth_provider, is_verified, created_at, updated_at)
  WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {users})
  SELECT randomblob(16), 'u' || n || '@bench.example', NULL, 'student', 1, 'email', 1, '{now}', '{now}' FROM g;
INSERT INTO user_profiles (id, user_id, full_name, daily_goal_minutes, timezone, onboarding_completed, created_at, updated_at)
  SELECT randomblob(16), id, 'Bench ' || email, 30, 'UTC', 0, '{now}', '{now}' FROM users WHERE email LIKE '%@bench.example';
CREATE TABLE bench_users AS SELECT row_number() OVER () AS n, id FROM users WHERE email LIKE '%@bench.example';
CREATE INDEX bench_users_n ON bench_users (n);
INSERT INTO xp_logs (id, user_id, xp_amount, source_type, reference_id, description, created_at)
  WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {xp}),
  r AS (SELECT (abs(random()) % 1000000) / 1000000.0 AS x FROM g)
  SELECT randomblob(16), b.id, 1 + abs(random()) % 20, 'doubt', randomblob(16), 'bench',
         strftime('%Y-%m-%dT%H:%M:%S+00:00', {start_epoch} + abs(random()) % {secs}, 'unixepoch')
  FROM r JOIN bench_users b ON b.n = 1 + CAST(r.x * r.x * ({users} - 1) AS INTEGER);
INSERT INTO leaderboard_scores (period_type, period_start, user_id, xp)
  SELECT 'weekly', date(created_at, '-6 days', 'weekday 1'), user_id, SUM(xp_amount) FROM xp_logs GROUP BY 2, 3;
INSERT INTO leaderboard_scores (period_type, period_start, user_id, xp)
  SELECT 'monthly', date(created_at, 'start of month'), user_id, SUM(xp_amount) FROM xp_logs GROUP BY 2, 3;
COMMIT;
ANALYZE;
"""


def run_backend(backend, args, rows):
    exe, kind = binary()
    if backend == "postgres":
        subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {PG_DB}"], check=True)
        subprocess.run(["psql", f"{PG}/postgres", "-q", "-c", f"CREATE DATABASE {PG_DB}"], check=True)
        url = f"{PG}/{PG_DB}"
    else:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(SQLITE + suffix):
                os.remove(SQLITE + suffix)
        url = f"sqlite://{SQLITE}"
    env = dict(server_env(), STUDIUM_DATABASE_URL=url, STUDIUM_BIND=f"127.0.0.1:{PORT}",
               STUDIUM_SEED_DEMO="false", STUDIUM_JWT_SECRET="bench-secret-bench-secret-bench-secret",
               STUDIUM_LEADERBOARD_REFRESH_SECS="3600", STUDIUM_ACCESS_TOKEN_TTL_SECS="86400",
               RUST_LOG="warn,studium::social::standings=info")
    log = open(f"/tmp/studium-lb-bench-{backend}.log", "w")
    server = subprocess.Popen([exe, "serve"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        api = Api()
        status, body = api.call("POST", "/api/v1/auth/register",
                                {"email": "me@bench.example.org", "password": PASSWORD, "full_name": "Bench Me"})
        assert status == 201, body
        token = body["access_token"]
        now = dt.datetime.now(dt.timezone.utc)
        week_start = dt.datetime.combine(now.date() - dt.timedelta(days=now.weekday()), dt.time(), dt.timezone.utc)
        secs = max(60, int((now - week_start).total_seconds()) - 5)
        now_s = now.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        t = time.perf_counter()
        sql = generation_sql(backend, args.users, args.xp, week_start, secs, now_s)
        # 200 friends for me, and some XP of mine in the middle of the field.
        if backend == "postgres":
            sql += f"""INSERT INTO friends (id, requester_id, addressee_id, status, created_at, updated_at)
  SELECT gen_random_uuid(), (SELECT id FROM users WHERE email = 'me@bench.example.org'), id, 'accepted', now(), now()
  FROM bench_users WHERE n % {args.users // 200} = 0 LIMIT 200;
INSERT INTO leaderboard_scores SELECT 'weekly', CAST(date_trunc('week', now() AT TIME ZONE 'UTC') AS DATE), id, 20 FROM users WHERE email = 'me@bench.example.org';"""
            psql(sql)
        else:
            sql += f"""INSERT INTO friends (id, requester_id, addressee_id, status, created_at, updated_at)
  SELECT randomblob(16), (SELECT id FROM users WHERE email = 'me@bench.example.org'), id, 'accepted', '{now_s}', '{now_s}'
  FROM bench_users WHERE n % {args.users // 200} = 0 LIMIT 200;
INSERT INTO leaderboard_scores SELECT 'weekly', date('{now_s}', '-6 days', 'weekday 1'), id, 20 FROM users WHERE email = 'me@bench.example.org';"""
            sqlite(sql)
        counts = ("DELETE FROM leaderboard_xp_counts; INSERT INTO leaderboard_xp_counts "
                  "(period_type, period_start, xp, users) SELECT period_type, period_start, xp, COUNT(*) "
                  "FROM leaderboard_scores GROUP BY period_type, period_start, xp; "
                  "DELETE FROM leaderboard_xp_buckets; INSERT INTO leaderboard_xp_buckets "
                  "(period_type, period_start, bucket, users) SELECT period_type, period_start, xp / 64, "
                  "SUM(users) FROM leaderboard_xp_counts GROUP BY period_type, period_start, xp / 64;")
        if backend == "postgres":
            # Settled as a running system would be: autovacuum would otherwise still be working
            # through the bulk load while the reads are timed.
            psql(counts)
            psql("VACUUM ANALYZE")
        else:
            sqlite(counts + " ANALYZE;")
        gen = time.perf_counter() - t
        rows.append(("generate 100k users + 2M xp_logs (s)", backend, f"{gen:.1f}", ""))

        # The first global read on the instance asks the database (and computes the top: there
        # is no cache row yet); it has the period's scores read whole into memory in the
        # background, which the server logs.
        t = time.perf_counter()
        status, _ = api.call("GET", "/api/v1/leaderboards/weekly", token=token)
        assert status == 200
        rows.append(("first global read, top computed (ms)", backend,
                     f"{(time.perf_counter() - t) * 1000:.1f}", ""))
        # Cache refresh: the first read after the cache row is gone recomputes the period's top
        # (an instance uses its parsed top for up to a second without asking for the row).
        refresh = []
        for _ in range(5):
            if backend == "postgres":
                psql("DELETE FROM leaderboard_cache")
            else:
                sqlite("DELETE FROM leaderboard_cache;")
            time.sleep(1.1)
            t = time.perf_counter()
            status, _ = api.call("GET", "/api/v1/leaderboards/weekly", token=token)
            refresh.append((time.perf_counter() - t) * 1000)
            assert status == 200
        rows.append(("refresh weekly top 100 (read incl. refresh, ms)", backend,
                     f"{statistics.median(refresh):.1f}", f"{max(refresh):.1f}"))
        with open(f"/tmp/studium-lb-bench-{backend}.log") as f:
            log = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
        loads = re.findall(r"leaderboard period read into memory.*?elapsed_ms=(\d+)", log)
        rows.append(("period read whole into memory, in the background (ms)", backend,
                     loads[0] if loads else "not logged", ""))
        status, board = api.call("GET", "/api/v1/leaderboards/weekly", token=token)
        glob = timed_reads(api, "/api/v1/leaderboards/weekly", token, args.reads)
        rows.append(("GET weekly global + my rank (ms)", backend, f"{pct(glob, 50):.2f}", f"{pct(glob, 99):.2f}"))
        fr = timed_reads(api, "/api/v1/leaderboards/weekly?scope=friends", token, args.reads)
        rows.append(("GET weekly friends (200 friends) (ms)", backend, f"{pct(fr, 50):.2f}", f"{pct(fr, 99):.2f}"))
        # The first read after a change of mine: my own profile write marks me stale on this
        # instance, on the friends boards naming me and in the global standings, so each timed
        # read first reads me again.
        for label, path in (("friends", "/api/v1/leaderboards/weekly?scope=friends"),
                            ("global", "/api/v1/leaderboards/weekly")):
            miss = reads_after_changes(api, path, token, args.reads // 2)
            rows.append((f"GET weekly {label}, first read after a change (ms)", backend,
                         f"{pct(miss, 50):.2f}", f"{pct(miss, 99):.2f}"))
        status, fb = api.call("GET", "/api/v1/leaderboards/weekly?scope=friends", token=token)
        ceiling = []
        for _ in range(args.reads):
            t = time.perf_counter()
            c = http.client.HTTPConnection("127.0.0.1", PORT)
            c.request("GET", "/healthz")
            c.getresponse().read()
            ceiling.append((time.perf_counter() - t) * 1000)
        rows.append(("GET /healthz ceiling, new connection (ms)", backend, f"{pct(ceiling, 50):.2f}", f"{pct(ceiling, 99):.2f}"))
        with open(f"/proc/{server.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        rows.append(("server resident memory after the reads (MiB)", backend, f"{rss / 1024:.0f}", ""))
        rows.append((f"  (me: rank {board['me']['rank']}, {len(fb['entries'])} in friends scope; {kind} binary)", backend, "", ""))
    finally:
        server.terminate()
        server.wait()


class Redis:
    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", 6379))
        self.buf = b""

    @staticmethod
    def encode(*args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            a = str(a).encode()
            out.append(f"${len(a)}\r\n".encode() + a + b"\r\n")
        return b"".join(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 20)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError(line)

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self.encode(*c) for c in commands))
        return [self.reply() for _ in commands]


def run_redis(args, rows):
    import random
    r = Redis()
    key = "studium:bench:weekly"
    r.pipeline([("DEL", key)])
    t = time.perf_counter()
    batch = []
    for _ in range(args.xp):
        x = random.random()
        batch.append(("ZINCRBY", key, 1 + random.randrange(20), f"u{1 + int(x * x * (args.users - 1))}"))
        if len(batch) == 10000:
            r.pipeline(batch)
            batch = []
    if batch:
        r.pipeline(batch)
    load = time.perf_counter() - t
    rows.append(("ZINCRBY x 2M, pipelined (s)", "redis", f"{load:.1f}", ""))
    me = f"u{args.users // 2}"
    glob = []
    for _ in range(args.reads):
        t = time.perf_counter()
        r.pipeline([("ZREVRANGE", key, 0, 99, "WITHSCORES")])
        r.pipeline([("ZREVRANK", key, me)])
        glob.append((time.perf_counter() - t) * 1000)
    rows.append(("ZREVRANGE top 100 + ZREVRANK (ms)", "redis", f"{pct(glob, 50):.2f}", f"{pct(glob, 99):.2f}"))
    friends = [f"u{i * (args.users // 200)}" for i in range(1, 201)]
    fr = []
    for _ in range(args.reads):
        t = time.perf_counter()
        scores = r.pipeline([("ZMSCORE", key, *friends)])[0]
        sorted(zip(friends, scores), key=lambda p: -float(p[1] or 0))
        fr.append((time.perf_counter() - t) * 1000)
    rows.append(("ZMSCORE 200 friends + sort (ms)", "redis", f"{pct(fr, 50):.2f}", f"{pct(fr, 99):.2f}"))
    r.pipeline([("DEL", key)])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--xp", type=int, default=2_000_000)
    p.add_argument("--reads", type=int, default=500)
    p.add_argument("--backends", default="sqlite,postgres,redis")
    args = p.parse_args()
    rows = []
    for b in args.backends.split(","):
        if b == "redis":
            run_redis(args, rows)
        else:
            run_backend(b, args, rows)
    print(f"{'measure':52} {'backend':9} {'p50':>9} {'p99':>9}")
    for m, b, p50, p99 in rows:
        print(f"{m:52} {b:9} {p50:>9} {p99:>9}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Studium web app page benchmark: the server time of every page on the demo data.

Starts the release binary on SQLite and on PostgreSQL in turn, seeds the demo content, gives a
student real data through the JSON API (completed lessons, a study session, a tutor thread, a
quiz attempt, an uploaded note, a friend), signs in through the web form, then requests each
page one at a time and reads the server's own `Server-Timing: app;dur=…` header (time to the
response headers, which for these server-rendered pages is the whole render). Prints p50, p99
and max per page, and the ratio of the worst p99 to the 50 ms limit.

    python3 bench/web_pages.py                   # both backends, 50 requests per page
    python3 bench/web_pages.py --backends sqlite --requests 20 --no-build
"""

import argparse
from http.cookiejar import CookieJar
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BINARY, PASSWORD, Server, build, http, log  # noqa: E402

LIMIT_MS = 50.0


class Browser:
    """A cookie-keeping client of the web app (no redirects followed for POSTs)."""

    def __init__(self, base):
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path):
        with self.opener.open(f"{self.base}{path}") as res:
            return res.status, res.headers, res.read().decode()

    def csrf(self, html):
        m = re.search(r'name="csrf_token" value="([^"]+)"', html)
        return m.group(1)

    def sign_in(self, email, password):
        _, _, html = self.get("/signin")
        body = urllib.parse.urlencode(
            {"email": email, "password": password, "next": "/", "csrf_token": self.csrf(html)}
        ).encode()
        with self.opener.open(urllib.request.Request(f"{self.base}/signin", data=body)) as res:
            assert res.status == 200, res.status
        assert any(c.name == "studium_session" for c in self.jar), "signed in"


def api(base, method, path, token=None, body=None):
    status, data = http(method, f"{base}/api/v1{path}", body=body, token=token)
    assert status < 300, (method, path, status, data)
    return data


def upload(base, token, name, text):
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: text/markdown\r\n\r\n{text}\r\n--{boundary}--\r\n"
    ).encode()
    req = urllib.request.Request(
        f"{base}/api/v1/materials",
        data=body,
        headers={"authorization": f"Bearer {token}", "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read())


def register(base, email, name):
    data = api(base, "POST", "/auth/register", body={"email": email, "password": PASSWORD, "full_name": name})
    return data["access_token"], data["user"]["id"]


def prepare(server):
    """A student with data in every area, and the ids of the pages to time."""
    base = server.base
    email = f"pages-{uuid.uuid4().hex[:8]}@bench.example"
    token, _ = register(base, email, "Page Bench")
    friend_token, friend_id = register(base, f"friend-{uuid.uuid4().hex[:8]}@bench.example", "Friend Bench")
    subject = api(base, "GET", "/subjects?limit=100", token)["items"][0]
    topic = api(base, "GET", f"/subjects/{subject['id']}/topics?limit=100", token)["items"][0]
    lessons = api(base, "GET", f"/topics/{topic['id']}/lessons?limit=100", token)["items"]
    for lesson in lessons[:3]:
        api(base, "POST", f"/lessons/{lesson['id']}/complete", token, {})
    session = api(base, "POST", "/study-sessions/start", token, {})
    api(base, "POST", f"/study-sessions/{session['id']}/stop", token, {})
    doubt = api(base, "POST", "/doubts", token, {"topic_id": topic["id"], "message": "What is this topic about?"})
    quiz = api(base, "POST", f"/topics/{topic['id']}/quizzes", token, {})["quiz"]
    answers = [{"question_id": q["id"], "answer": q["options"][0]} for q in quiz["questions"]]
    attempt = api(base, "POST", f"/quizzes/{quiz['id']}/attempts", token, {"answers": answers})["attempt"]
    material = upload(base, token, "notes.md", "# Photosynthesis\n\nChlorophyll absorbs light.\n" * 20)
    request = api(base, "POST", "/friends/requests", token, {"addressee_id": friend_id})
    api(base, "POST", f"/friends/requests/{request['id']}/accept", friend_token, {})
    doubt_id = doubt["doubt_session"]["id"]
    pages = [
        "/", "/learn", f"/learn/subjects/{subject['id']}", f"/learn/topics/{topic['id']}",
        f"/learn/lessons/{lessons[0]['id']}", "/study", "/tutor", f"/tutor/{doubt_id}", "/quizzes",
        f"/quizzes/{quiz['id']}", f"/quizzes/attempts/{attempt['id']}", "/materials",
        f"/materials/{material['id']}", "/friends", "/leaderboards", "/leaderboards?scope=friends",
        "/account",
    ]
    admin_pages = [
        "/admin", "/admin/users", "/admin/content", f"/admin/content/topics/{topic['id']}",
        f"/admin/quizzes/{quiz['id']}/stats", "/admin/usage", "/admin/jobs",
    ]
    return email, pages, admin_pages


def percentile(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def time_pages(browser, pages, n, backend, rows):
    for path in pages:
        samples = []
        for i in range(n + 3):
            status, headers, _ = browser.get(path)
            assert status == 200, (path, status)
            m = re.search(r"dur=([0-9.]+)", headers.get("server-timing", ""))
            assert m, f"{path}: no Server-Timing header"
            if i >= 3:  # the first requests warm caches
                samples.append(float(m.group(1)))
        rows.append((path, backend, percentile(samples, 50), percentile(samples, 99), max(samples)))


def bench_backend(backend, args, pg_url, rows):
    workdir = tempfile.mkdtemp(prefix=f"studium-pages-{backend}-")
    server = Server(backend, pg_url, workdir)
    server.env["STUDIUM_RATE_LIMIT_USER_SEARCH_PER_USER"] = "1000000"
    try:
        server.run_command("migrate")
        server.run_command("seed-demo")
        admin_email = f"admin-{uuid.uuid4().hex[:8]}@bench.example"
        subprocess.run(
            [BINARY, "create-admin", "--email", admin_email, "--password", PASSWORD],
            env=server.env, check=True, stdout=subprocess.DEVNULL,
        )
        server.start()
        email, pages, admin_pages = prepare(server)
        time.sleep(2)  # the note's processing job finishes
        student = Browser(server.base)
        student.sign_in(email, PASSWORD)
        log(f"pages[{backend}]: {len(pages)} student pages, {args.requests} requests each")
        time_pages(student, pages, args.requests, backend, rows)
        admin = Browser(server.base)
        admin.sign_in(admin_email, PASSWORD)
        log(f"pages[{backend}]: {len(admin_pages)} admin pages")
        time_pages(admin, admin_pages, args.requests, backend, rows)
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    pg_url = os.environ.get("STUDIUM_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    if not args.no_build:
        build()
    rows = []
    for backend in args.backends.split(","):
        bench_backend(backend.strip(), args, pg_url, rows)
    print(f"\nStudium web pages — server time (Server-Timing), {args.requests} sequential requests per page, {os.cpu_count()} CPUs\n")
    print("| page | backend | p50 ms | p99 ms | max ms |")
    print("|---|---|---:|---:|---:|")
    for path, backend, p50, p99, mx in rows:
        print(f"| `{path}` | {backend} | {p50:.2f} | {p99:.2f} | {mx:.2f} |")
    worst = max(rows, key=lambda r: r[3])
    print(f"\nWorst p99: {worst[3]:.2f} ms (`{worst[0]}`, {worst[1]}) = {worst[3] / LIMIT_MS:.2f} of the {LIMIT_MS:.0f} ms limit")


if __name__ == "__main__":
    main()

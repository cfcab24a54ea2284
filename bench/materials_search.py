#!/usr/bin/env python3
"""Materials search benchmark (issue: hybrid search latency at 10k and 100k chunks).

Runs the hidden `studium bench-search` command of the release binary on a fresh SQLite file and
on a fresh PostgreSQL database: one student's generated chunks grown to 10k and then 100k
(beside another student's 5k), 200 searches per size timed one at a time (query embedding,
full-text candidates, exact cosine over every vector of the student, fusion, snippets), next to
the ceiling measured in the same run (`SELECT 1` through the same pool). Prints one table.

    python3 bench/materials_search.py
    python3 bench/materials_search.py --backends sqlite --sizes 10000 --queries 50 --no-build
"""

import argparse
import os
import subprocess
import sys
import tempfile
import uuid


def server_env():
    """This environment minus the benchmark's own STUDIUM_BENCH_* settings, which the server
    would refuse as unknown configuration."""
    return {k: v for k, v in os.environ.items() if not k.startswith("STUDIUM_BENCH_")}


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "studium")


def run(backend, url, args):
    env = dict(server_env(), STUDIUM_DATABASE_URL=url, STUDIUM_SEED_DEMO="false", RUST_LOG="warn")
    out = subprocess.run(
        [BINARY, "bench-search", "--sizes", args.sizes, "--queries", str(args.queries)],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    return [line for line in out.splitlines() if line.startswith("| ") and "---" not in line and "| what" not in line]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "studium"], cwd=ROOT, check=True)
    rows = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                rows += run(backend, f"sqlite://{tmp}/bench.db", args)
        else:
            base = os.environ.get("STUDIUM_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
            name = f"studium_search_bench_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", f"{base}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
            try:
                rows += run(backend, f"{base}/{name}", args)
            finally:
                subprocess.run(["psql", f"{base}/postgres", "-qc", f"DROP DATABASE {name}"], check=True)
    print(f"\nMaterials search — one query at a time, {args.queries} per size, {os.cpu_count()} CPUs\n")
    print("| what | backend | chunks | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    sys.exit(main())

#!/bin/bash
# The server's resident memory after rounds of load while nobody scrapes /metrics: it must level
# off, not grow with the number of requests served.
# usage: [ROUNDS=3] bench/server_memory.sh [binary=target/release/studium]
set -u
bin=$(realpath "${1:-target/release/studium}"); d=$(mktemp -d); cd $d
STUDIUM_DATABASE_URL=sqlite://$d/x.db STUDIUM_BIND=127.0.0.1:18555 STUDIUM_SEED_DEMO=false RUST_LOG=warn STUDIUM_WORKER=off $bin serve >/dev/null 2>&1 & pid=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:18555/healthz >/dev/null && break; sleep 0.2; done
echo "start rss_kb $(awk '/VmRSS/{print $2}' /proc/$pid/status)"
for r in $(seq "${ROUNDS:-3}"); do
  n=$(wrk -t2 -c32 -d15s http://127.0.0.1:18555/healthz | awk '/requests in/{print $1}')
  sleep 6
  echo "after round $r ($n requests) rss_kb $(awk '/VmRSS/{print $2}' /proc/$pid/status)"
done
kill $pid; rm -rf $d

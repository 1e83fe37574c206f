#!/usr/bin/env bash
# Where Redis' time goes in a surge scenario, by script and by command (issue 20: the waving
# tail is held by Redis): a fresh Redis (appendonly yes, appendfsync everysec), livepack with
# the planner on, one `livepack-surge scenario` (its sessions end and every order is checked
# to be in exactly one wave), with load-tests/redis_time.py draining Redis' SLOWLOG (every
# command logged) for the whole run. Logging every command slows Redis: compare the shares
# within a run, not the times with other benchmarks; at the full peak the log overflows between
# drains (the report counts the entries lost), so keep SCALE at 0.3 or below for it.
# Writes load-tests/results/redis-time-<date>.md.
# Knobs (environment): SCENARIO (peak), SCALE (1.0), OPF (orders per frame, 1), SKIP_BUILD=1,
# KEEP_TMP=1, LIVEPACK=/path/to/a/livepack binary, REDIS_ARGS (more redis-server arguments,
# e.g. "--hash-max-listpack-value 4096" as deploy/compose.yaml runs it).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SCENARIO=${SCENARIO:-peak}
SCALE=${SCALE:-1.0}
OPF=${OPF:-1}
TOKENS=(--token demo-seller-mat-ong-tam-diep-token --token demo-seller-tra-shan-tuyet-token)
python3 -c 'import redis' 2>/dev/null || {
    echo "bench-redis-time: needs the redis Python package (pip install redis)" >&2
    exit 1
}
if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release -p livepack -p livepack-surge
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LIVEPACK=${LIVEPACK:-$TARGET/release/livepack}
SURGE=$TARGET/release/livepack-surge
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/livepack-redis-time.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -z "${KEEP_TMP:-}" ]]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT
RESULTS=$ROOT/load-tests/results
mkdir -p "$RESULTS"
OUT=$RESULTS/redis-time-$(date +%Y-%m-%d-%H%M).md

read -r -a REDIS_EXTRA <<<"${REDIS_ARGS:-}"
REDIS_PORT=$("$SURGE" free-port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TMP" --appendonly yes \
    --appendfsync everysec --save "" --daemonize no --logfile "$TMP/redis.log" \
    ${REDIS_EXTRA[@]+"${REDIS_EXTRA[@]}"} &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null

LP_PORT=$("$SURGE" free-port)
LIVEPACK__REDIS__URL="redis://127.0.0.1:$REDIS_PORT/0" \
LIVEPACK__SERVER__LISTEN="127.0.0.1:$LP_PORT" \
LIVEPACK__INGEST__MAX_CONNECTIONS_PER_SELLER=2000 \
LIVEPACK__LOG__LEVEL=warn \
LIVEPACK__INGEST__MAX_ORDERS_PER_SEC=1000000 \
    "$LIVEPACK" serve >"$TMP/livepack.log" 2>&1 &
LP_PID=$!
PIDS+=("$LP_PID")
for _ in $(seq 200); do
    curl -fsS "http://127.0.0.1:$LP_PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$LP_PID" 2>/dev/null || { cat "$TMP/livepack.log" >&2; exit 1; }
    sleep 0.1
done

TITLE="livepack $SCENARIO, scale $SCALE, $OPF order(s) a frame, $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)${REDIS_ARGS:+, $REDIS_ARGS}"
READY_FILE="$TMP/ready" python3 load-tests/redis_time.py "$REDIS_PORT" "$TMP/time.md" "$TITLE" &
POLLER=$!
PIDS+=("$POLLER")
for _ in $(seq 100); do [[ -f $TMP/ready ]] && break; sleep 0.1; done
[[ -f $TMP/ready ]] || { echo "bench-redis-time: the SLOWLOG poller did not start" >&2; exit 1; }
"$SURGE" scenario --name "$SCENARIO" --url "ws://127.0.0.1:$LP_PORT" "${TOKENS[@]}" \
    --scale "$SCALE" --orders-per-frame "$OPF" --idle 0 --no-progress \
    --server-pid "$LP_PID" --redis-pid "$REDIS_PID" | tee "$TMP/out.txt"
kill -TERM "$POLLER"  # (a background job of a script ignores SIGINT)
wait "$POLLER"
{
    cat "$TMP/time.md"
    echo
    echo "The scenario's own lines:"
    echo
    grep -E '^(throughput|note|verified)' "$TMP/out.txt" | sed 's/^/    /'
} >"$OUT"
echo
cat "$OUT"
echo "written: $OUT"

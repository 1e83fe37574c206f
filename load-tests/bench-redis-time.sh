#!/usr/bin/env bash
# Where Redis' time goes in a surge scenario, by script and by command (issue 20: the waving
# tail is held by Redis): a fresh Redis (appendonly yes, appendfsync everysec), livepack with
# the planner on, one `livepack-surge scenario` (its sessions end and every order is checked
# to be in exactly one wave), with load-tests/redis_time.py draining Redis' SLOWLOG (every
# command logged) for the whole run. Logging every command slows Redis: compare the shares
# within a run, not the times with other benchmarks. At the full peak (SCALE=1.0) the log
# overflows between drains (the report counts the entries lost) and the tail doubles: hence the
# default SCALE of 0.3 (27,000 orders of the peak's 300,000; nothing lost here).
# Writes load-tests/results/redis-time-<date>.md.
# Knobs (environment): SCENARIO (peak), SCALE (0.3), OPF (orders per frame, 1), POLL_MS (100),
# SKIP_BUILD=1, KEEP_TMP=1, LIVEPACK=/path/to/a/livepack binary, REDIS_ARGS (redis-server
# settings: unset, livepack's embedded Redis' (lib.sh EMBEDDED_REDIS_ARGS); "" for Redis' defaults).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
source load-tests/lib.sh
SCENARIO=${SCENARIO:-peak}
SCALE=${SCALE:-0.3}
OPF=${OPF:-1}
TOKENS=(--token demo-seller-mat-ong-tam-diep-token --token demo-seller-tra-shan-tuyet-token)
for bin in redis-server redis-cli curl python3; do
    command -v "$bin" >/dev/null || {
        echo "bench-redis-time: $bin not found (Debian/Ubuntu: apt-get install redis-server redis-tools curl python3)" >&2
        exit 1
    }
done
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
REDIS_PID=""
LP_PID=""
POLLER=""
cleanup() {
    # The poller first (its last drain needs Redis), then the service, then Redis.
    stop_pid POLLER
    stop_pid LP_PID
    stop_pid REDIS_PID
    if [[ -z "${KEEP_TMP:-}" ]]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT
RESULTS=$ROOT/load-tests/results
mkdir -p "$RESULTS"
STAMP=$(date +%Y-%m-%d-%H%M)
[[ -e "$RESULTS/redis-time-$STAMP.md" ]] && STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$RESULTS/redis-time-$STAMP.md

redis_settings
REDIS_PORT=$("$SURGE" free-port)
start_redis "$REDIS_PORT" "$TMP" ${REDIS_EXTRA[@]+"${REDIS_EXTRA[@]}"}

LP_PORT=$("$SURGE" free-port)
LIVEPACK__REDIS__URL="redis://127.0.0.1:$REDIS_PORT/0" \
LIVEPACK__SERVER__LISTEN="127.0.0.1:$LP_PORT" \
LIVEPACK__INGEST__MAX_CONNECTIONS_PER_SELLER=2000 \
LIVEPACK__LOG__LEVEL=warn \
LIVEPACK__INGEST__MAX_ORDERS_PER_SEC=1000000 \
    "$LIVEPACK" serve >"$TMP/livepack.log" 2>&1 &
LP_PID=$!
wait_ready "$LP_PORT" "$LP_PID" "$TMP/livepack.log"

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs || true)
TITLE="livepack $SCENARIO, scale $SCALE, $OPF order(s) a frame, $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores${CPU:+, $CPU}, Redis ${REDIS_ARGS:-defaults}"
REPRODUCE="SCENARIO=$SCENARIO SCALE=$SCALE OPF=$OPF REDIS_ARGS=\"$REDIS_ARGS\" bash load-tests/bench-redis-time.sh"
READY_FILE="$TMP/ready" REPRODUCE="$REPRODUCE" \
    python3 load-tests/redis_time.py "$REDIS_PORT" "$TMP/time.md" "$TITLE" &
POLLER=$!
for _ in $(seq 100); do
    [[ -f $TMP/ready ]] && break
    kill -0 "$POLLER" 2>/dev/null || break
    sleep 0.1
done
[[ -f $TMP/ready ]] || { echo "bench-redis-time: the SLOWLOG poller did not start" >&2; exit 1; }

"$SURGE" scenario --name "$SCENARIO" --url "ws://127.0.0.1:$LP_PORT" "${TOKENS[@]}" \
    --scale "$SCALE" --orders-per-frame "$OPF" --idle 0 --no-progress \
    --server-pid "$LP_PID" --redis-pid "$REDIS_PID" | tee "$TMP/out.txt"
# The poller drains once more and writes its report when told to stop.
stop_pid POLLER
{
    cat "$TMP/time.md"
    echo
    echo "The scenario's own lines:"
    echo
    grep -E '^(throughput|note|verified)' "$TMP/out.txt" | sed 's/^/    /' || true
} >"$OUT"
echo
cat "$OUT"
echo "written: $OUT"

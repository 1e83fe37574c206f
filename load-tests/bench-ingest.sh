#!/usr/bin/env bash
# The issue-3 ingest benchmark, side by side in one run on this machine:
#   redis-benchmark running livepack's own ingest script with EVALSHA (the limit) and,
#   right after it, a minimal set-if-absent + XADD script (the floor the ingest script is
#   held to: issue 20, ≤ 1.3× its cost), then
#   livepack's WebSocket ingest at several shapes, against the same fresh Redis
#   (appendonly yes, appendfsync everysec), FLUSHALL between runs.
# Writes load-tests/results/ingest-<date>.md (and the JSON reports next to it).
#
# Knobs (environment): ORDERS (default 100000), LIMIT_CLIENTS (50), LIMIT_PIPELINE (16),
# BURST (3000), PACE (per-connection orders/s limit given to livepack, default 1000000 so
# the limiter does not bind; "default" keeps the shipped 100000), SKIP_BUILD=1, KEEP_TMP=1,
# BEFORE=/path/to/an/older/livepack (its ingest runs follow, named "before:", against the
# same Redis in the same run: before/after ratios from one run on a noisy machine), REDIS_ARGS
# (redis-server settings: unset, livepack's embedded Redis' (lib.sh EMBEDDED_REDIS_ARGS); ""
# for Redis' defaults, as runs before issue 20's thirty-sixth session had).
set -euo pipefail

cd "$(dirname "$0")/.."
source load-tests/lib.sh
ROOT=$PWD
ORDERS=${ORDERS:-100000}
LIMIT_CLIENTS=${LIMIT_CLIENTS:-50}
LIMIT_PIPELINE=${LIMIT_PIPELINE:-16}
BURST=${BURST:-3000}
PACE=${PACE:-1000000}
PACE_ENV=()
[[ "$PACE" != default ]] && PACE_ENV=("LIVEPACK__INGEST__MAX_ORDERS_PER_SEC=$PACE")
TOKENS=(--token demo-seller-mat-ong-tam-diep-token --token demo-seller-tra-shan-tuyet-token)

for bin in redis-server redis-cli redis-benchmark curl; do
    command -v "$bin" >/dev/null || {
        echo "bench-ingest: $bin not found (Debian/Ubuntu: apt-get install redis-server redis-tools curl)" >&2
        exit 1
    }
done

if [[ -z "${SKIP_BUILD:-}" ]]; then
    echo "== building (release)"
    cargo build --release -p livepack -p livepack-surge
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LIVEPACK=$TARGET/release/livepack
SURGE=$TARGET/release/livepack-surge

TMP=$(mktemp -d /tmp/livepack-bench.XXXXXX)
REDIS_PID=""
LP_PID=""
cleanup() {
    [[ -n "$LP_PID" ]] && kill "$LP_PID" 2>/dev/null && wait "$LP_PID" 2>/dev/null
    [[ -n "$REDIS_PID" ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    if [[ -z "${KEEP_TMP:-}" ]]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT

REDIS_PORT=$("$SURGE" free-port)
echo "== redis-server on 127.0.0.1:$REDIS_PORT (AOF everysec) in $TMP"
redis_settings
start_redis "$REDIS_PORT" "$TMP" ${REDIS_EXTRA[@]+"${REDIS_EXTRA[@]}"}
RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")

start_lp() { # binary
    LP_PORT=$("$SURGE" free-port)
    echo "== $1 serve on 127.0.0.1:$LP_PORT (planner off)"
    LIVEPACK__REDIS__URL="redis://127.0.0.1:$REDIS_PORT/0" \
    LIVEPACK__SERVER__LISTEN="127.0.0.1:$LP_PORT" \
    LIVEPACK__PLANNER__ENABLED=false \
    LIVEPACK__LOG__LEVEL=warn \
        env "${PACE_ENV[@]}" "$1" serve >"$TMP/livepack.log" 2>&1 &
    LP_PID=$!
    wait_ready "$LP_PORT" "$LP_PID" "$TMP/livepack.log"
}
stop_lp() {
    kill "$LP_PID" 2>/dev/null && wait "$LP_PID" 2>/dev/null
    LP_PID=""
}
start_lp "$LIVEPACK"

RESULTS=$ROOT/load-tests/results
mkdir -p "$RESULTS"
STAMP=$(date +%Y-%m-%d-%H%M)
# Two runs started within a minute (an A/B) must not share a name.
[[ -e "$RESULTS/ingest-$STAMP" ]] && STAMP=$(date +%Y-%m-%d-%H%M%S)
JSON_DIR=$RESULTS/ingest-$STAMP
mkdir -p "$JSON_DIR"
REPORTS=()
FAILED=0

flush() {
    "${RCLI[@]}" flushall >/dev/null
    sleep 1
}

limit() { # name, orders, clients, pipeline, orders per call, report, [script: ingest|minimal]
    flush
    echo "== $1"
    "$SURGE" redis-limit --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --orders "$2" \
        --clients "$3" --pipeline "$4" --orders-per-call "$5" --redis-pid "$REDIS_PID" \
        --script "${7:-ingest}" --name "$1" --json "$JSON_DIR/$6.json" || FAILED=1
    [[ -f "$JSON_DIR/$6.json" ]] && REPORTS+=("$JSON_DIR/$6.json")
    return 0
}

ingest() { # name, file, connections, orders, orders per frame
    flush
    echo "== $1"
    "$SURGE" ingest --url "ws://127.0.0.1:$LP_PORT" "${TOKENS[@]}" --connections "$3" \
        --orders "$4" --orders-per-frame "$5" --session-prefix "b$2" --no-progress \
        --server-pid "$LP_PID" --redis-pid "$REDIS_PID" --name "$1" --json "$JSON_DIR/$2.json" ||
        FAILED=1
    [[ -f "$JSON_DIR/$2.json" ]] && REPORTS+=("$JSON_DIR/$2.json")
    return 0
}

# Stored bytes per order as the service writes it (the limit's payload is the same shape).
stored_size() {
    local key
    key=$("${RCLI[@]}" --scan --pattern 'lp:*:o:*' | head -n 1)
    [[ -n "$key" ]] && echo "$("${RCLI[@]}" hstrlen "$key" data) bytes ($key)"
}

limit "redis-benchmark EVALSHA, 1 order/call (before)" "$ORDERS" "$LIMIT_CLIENTS" "$LIMIT_PIPELINE" 1 limit-1
limit "redis-benchmark EVALSHA minimal set-if-absent + XADD, 1 order/call (before)" "$ORDERS" \
    "$LIMIT_CLIENTS" "$LIMIT_PIPELINE" 1 minimal-1 minimal
limit "redis-benchmark EVALSHA, 100 orders/call" "$ORDERS" 10 2 100 limit-100
ingest "ingest 1 conn × 1/frame" i1x1 1 "$ORDERS" 1
STORED=$(stored_size || true)
ingest "ingest 1 conn × 100/frame" i1x100 1 "$ORDERS" 100
ingest "ingest 10 conns × 1/frame" i10x1 10 "$ORDERS" 1
ingest "ingest 10 conns × 100/frame" i10x100 10 "$ORDERS" 100
ingest "burst $BURST orders, 1 conn × 1/frame" burst 1 "$BURST" 1
# Memory per order in Redis once stored (INFO used_memory before/after the burst above
# would include the stream; this is the whole dataset over the orders stored).
MEM_AFTER=$("${RCLI[@]}" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
if [[ -n "${BEFORE:-}" ]]; then
    stop_lp
    start_lp "$BEFORE"
    ingest "before: ingest 1 conn × 1/frame" b-i1x1 1 "$ORDERS" 1
    ingest "before: ingest 10 conns × 100/frame" b-i10x100 10 "$ORDERS" 100
    ingest "before: burst $BURST orders, 1 conn × 1/frame" b-burst 1 "$BURST" 1
    MEM_BEFORE=$("${RCLI[@]}" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r')
fi
# The machine is shared and noisy: the limit again at the end brackets the ingest runs.
limit "redis-benchmark EVALSHA, 1 order/call (after)" "$ORDERS" "$LIMIT_CLIENTS" "$LIMIT_PIPELINE" 1 limit-1b
limit "redis-benchmark EVALSHA minimal set-if-absent + XADD, 1 order/call (after)" "$ORDERS" \
    "$LIMIT_CLIENTS" "$LIMIT_PIPELINE" 1 minimal-1b minimal

# The ingest script against the minimal one, same run: throughput (best of each pair) and
# Redis CPU per order (mean of each pair), read from the JSON reports.
field() { # file, field: the first number of that name in the report (orders_per_sec), or
    # the Redis process's cpu_s_per_1k_orders
    if [[ $2 == redis_cpu ]]; then
        sed -n '/"redis": {/,/}/s/.*"cpu_s_per_1k_orders": \([0-9.e+-]*\).*/\1/p' "$1" | head -n 1
    else
        sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | head -n 1
    fi
}
SCRIPT_RATIO=""
if [[ -f $JSON_DIR/limit-1.json && -f $JSON_DIR/limit-1b.json && -f $JSON_DIR/minimal-1.json &&
    -f $JSON_DIR/minimal-1b.json ]]; then
    SCRIPT_RATIO=$(awk -v i1="$(field "$JSON_DIR/limit-1.json" orders_per_sec)" \
        -v i2="$(field "$JSON_DIR/limit-1b.json" orders_per_sec)" \
        -v m1="$(field "$JSON_DIR/minimal-1.json" orders_per_sec)" \
        -v m2="$(field "$JSON_DIR/minimal-1b.json" orders_per_sec)" \
        -v ci1="$(field "$JSON_DIR/limit-1.json" redis_cpu)" -v ci2="$(field "$JSON_DIR/limit-1b.json" redis_cpu)" \
        -v cm1="$(field "$JSON_DIR/minimal-1.json" redis_cpu)" -v cm2="$(field "$JSON_DIR/minimal-1b.json" redis_cpu)" \
        'BEGIN {
            bi = (i1 > i2 ? i1 : i2); bm = (m1 > m2 ? m1 : m2)
            ci = (ci1 + ci2) / 2; cm = (cm1 + cm2) / 2
            printf "ingest script / minimal set-if-absent + XADD (1 order/call, same run): " \
                "%.2f× by throughput (%.0f vs %.0f orders/s, best of each pair), " \
                "%.2f× by Redis CPU per order (%.4f vs %.4f s/1k orders, mean of each pair); target ≤ 1.3×.",
                bm / bi, bi, bm, (cm > 0 ? ci / cm : 0), ci, cm
        }')
fi

OUT=$RESULTS/ingest-$STAMP.md
{
    echo "# livepack ingest benchmark, $(date -u +'%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
        "$(free -g | awk '/Mem:/ {print $2}') GiB RAM; load before the run: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), appendonly yes," \
        "appendfsync everysec, ${REDIS_ARGS:-Redis defaults otherwise}, FLUSHALL between runs; livepack release build, planner off;"
    echo "client (livepack-surge, livepack::client::push, window 64) on the same machine."
    echo "Stored order: ${STORED:-?}. Reproduce: \`${REPRODUCE_ARGS:+$REPRODUCE_ARGS }bash load-tests/bench-ingest.sh\`."
    [[ -n "$SCRIPT_RATIO" ]] && echo "$SCRIPT_RATIO" && echo
    echo "Redis used_memory after the $BURST-order burst (FLUSHALL before it): ${MEM_AFTER:-?} bytes${BEFORE:+; with the before build: ${MEM_BEFORE:-?} bytes}."
    echo
    echo "Limit = redis-benchmark running livepack's ingest script (EVALSHA) with -c $LIMIT_CLIENTS" \
        "-P $LIMIT_PIPELINE, one order per call, run before and after the ingest runs;"
    echo "\"× limit\" is orders/s over the better of the two (a minimal-script row's \"× limit\" is"
    echo "the ingest script's cost over the minimal one's, by throughput). livepack's per-connection limit"
    echo "ingest.max_orders_per_sec: $PACE (shipped default 100000)."
    echo "Ack latency is per frame (send → ack) for ingest, per request for redis-benchmark."
    echo "CPU s/1k orders from /proc/PID/stat (utime+stime) around each run; peak RSS = VmHWM"
    echo "(reset before each run via /proc/PID/clear_refs when allowed)."
    echo
    "$SURGE" table "${REPORTS[@]}"
} >"$OUT"
echo
cat "$OUT"
echo
echo "written: $OUT (JSON reports in $JSON_DIR)"
if [[ $FAILED != 0 ]]; then
    echo "bench-ingest: some runs failed their checks (see above)" >&2
    exit 1
fi

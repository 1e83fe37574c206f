#!/usr/bin/env bash
# The issue-9 surge scenarios, side by side in one run on this machine, same Redis
# (appendonly yes, appendfsync everysec, FLUSHALL between runs):
#   the limit (redis-benchmark EVALSHA of livepack's ingest script), livepack (planner on:
#   every scenario ends its sessions and checks that each order is in exactly one wave),
#   the Node peer (ws + ioredis, same script) and the BullMQ peer (queue.add per order),
#   the peers on the same client and scenarios (without end_session: they have no planner).
# Writes load-tests/results/surge-<date>.md and the JSON reports next to it.
#
# Knobs (environment): SCALE (1.0; e.g. 0.1 for a quick run), SCENARIOS ("flash live peak
# idle"), PEER_SCENARIOS ("flash peak"), IDLE (1000), OPF (orders per frame, 1),
# DURATION (live compressed into seconds, 60), PACE (livepack's per-connection orders/s
# limit, default 1000000 so it does not bind, as the peers have none; "default" keeps the
# shipped 100000, whose nacks then show in the table), LP_LOG (the service's log level, warn; its log
# is kept with KEEP_TMP), SKIP_BUILD=1, SKIP_PEERS=1, KEEP_TMP=1, LIVEPACK=<another livepack
# binary> (e.g. an older build, for a before/after pair of runs), REDIS_ARGS (redis-server
# settings: unset, livepack's embedded Redis' (lib.sh EMBEDDED_REDIS_ARGS, as
# deploy/compose.yaml sets them); "" for Redis' defaults, as runs before issue 20's
# thirty-sixth session had).
set -euo pipefail

cd "$(dirname "$0")/.."
source load-tests/lib.sh
ROOT=$PWD
SCALE=${SCALE:-1.0}
SCENARIOS=${SCENARIOS:-flash live peak idle}
PEER_SCENARIOS=${PEER_SCENARIOS:-flash peak}
IDLE=${IDLE:-1000}
OPF=${OPF:-1}
DURATION=${DURATION:-60}
PACE=${PACE:-1000000}
PACE_ENV=()
[[ "$PACE" != default ]] && PACE_ENV=("LIVEPACK__INGEST__MAX_ORDERS_PER_SEC=$PACE")
TOKENS=(--token demo-seller-mat-ong-tam-diep-token --token demo-seller-tra-shan-tuyet-token)

for bin in redis-server redis-cli redis-benchmark curl; do
    command -v "$bin" >/dev/null || {
        echo "bench-surge: $bin not found (Debian/Ubuntu: apt-get install redis-server redis-tools curl)" >&2
        exit 1
    }
done
if [[ -z "${SKIP_PEERS:-}" ]]; then
    command -v node >/dev/null && command -v npm >/dev/null || {
        echo "bench-surge: node/npm not found (or SKIP_PEERS=1)" >&2
        exit 1
    }
    echo "== npm ci (load-tests/peers/node)"
    if [[ -f load-tests/peers/node/package-lock.json ]]; then
        (cd load-tests/peers/node && npm ci --no-audit --no-fund)
    else
        (cd load-tests/peers/node && npm install --no-audit --no-fund)
    fi
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
    echo "== building (release)"
    cargo build --release -p livepack -p livepack-surge
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LIVEPACK=${LIVEPACK:-$TARGET/release/livepack}
SURGE=$TARGET/release/livepack-surge
# 1,000 idle sockets per side, plus the runs' own.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/livepack-surge.XXXXXX)
REDIS_PID=""
SVC_PID=""
cleanup() {
    [[ -n "$SVC_PID" ]] && kill "$SVC_PID" 2>/dev/null && wait "$SVC_PID" 2>/dev/null
    [[ -n "$REDIS_PID" ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    if [[ -z "${KEEP_TMP:-}" ]]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT

redis_settings
REDIS_PORT=$("$SURGE" free-port)
echo "== redis-server on 127.0.0.1:$REDIS_PORT (AOF everysec) in $TMP"
start_redis "$REDIS_PORT" "$TMP" ${REDIS_EXTRA[@]+"${REDIS_EXTRA[@]}"}
RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

RESULTS=$ROOT/load-tests/results
STAMP=$(date +%Y-%m-%d-%H%M)
# Two runs started within a minute (an A/B) must not share a name.
[[ -e "$RESULTS/surge-$STAMP" ]] && STAMP=$(date +%Y-%m-%d-%H%M%S)
JSON_DIR=$RESULTS/surge-$STAMP
mkdir -p "$JSON_DIR"
REPORTS=()
FAILED=0

stop_service() {
    if [[ -n "$SVC_PID" ]]; then
        kill "$SVC_PID" 2>/dev/null || true
        wait "$SVC_PID" 2>/dev/null || true
        SVC_PID=""
    fi
}

start_livepack() {
    PORT=$("$SURGE" free-port)
    LIVEPACK__REDIS__URL="$REDIS_URL" LIVEPACK__SERVER__LISTEN="127.0.0.1:$PORT" \
        LIVEPACK__INGEST__MAX_CONNECTIONS_PER_SELLER=2000 \
        LIVEPACK__LOG__LEVEL="${LP_LOG:-warn}" env "${PACE_ENV[@]}" "$LIVEPACK" serve >"$TMP/service.log" 2>&1 &
    SVC_PID=$!
    wait_ready "$PORT" "$SVC_PID" "$TMP/service.log"
}

start_peer() { # extra args
    PORT=$("$SURGE" free-port)
    PORT=$PORT REDIS_URL="$REDIS_URL" node load-tests/peers/node/server.js "$@" \
        >"$TMP/service.log" 2>&1 &
    SVC_PID=$!
    wait_ready "$PORT" "$SVC_PID" "$TMP/service.log"
}

scenario() { # who, scenario, extra args
    local who=$1 name=$2
    shift 2
    "${RCLI[@]}" flushall >/dev/null
    echo "== $who: $name (scale $SCALE)"
    "$SURGE" scenario --name "$name" --url "ws://127.0.0.1:$PORT" "${TOKENS[@]}" \
        --scale "$SCALE" --orders-per-frame "$OPF" --idle "$IDLE" --duration-secs "$DURATION" \
        --max-secs $((DURATION + 600)) \
        --no-progress --server-pid "$SVC_PID" --redis-pid "$REDIS_PID" \
        --who "$who" --json "$JSON_DIR/$who-$name.json" "$@" | tee "$TMP/out.txt" || FAILED=1
    [[ -f "$JSON_DIR/$who-$name.json" ]] && REPORTS+=("$JSON_DIR/$who-$name.json")
    grep -E '^(note|verified|  problem)' "$TMP/out.txt" | sed "s/^/- $who $name: /" >>"$TMP/notes.md" || true
    return 0
}

"${RCLI[@]}" flushall >/dev/null
echo "== limit: redis-benchmark EVALSHA, 1 order/call"
"$SURGE" redis-limit --redis-url "$REDIS_URL" --orders 100000 --clients 50 --pipeline 16 \
    --orders-per-call 1 --redis-pid "$REDIS_PID" --name "limit: redis-benchmark EVALSHA" \
    --json "$JSON_DIR/limit.json" || FAILED=1
[[ -f "$JSON_DIR/limit.json" ]] && REPORTS+=("$JSON_DIR/limit.json")

start_livepack
for s in $SCENARIOS; do
    if [[ $s == idle ]]; then
        # A fresh process: after a big run the heap keeps freed memory, which the idle
        # connections would reuse and look free.
        stop_service
        start_livepack
    fi
    scenario livepack "$s"
    if [[ $s == live ]]; then
        # Ingest → pick list per order (before the next scenario's FLUSHALL).
        "$SURGE" pick-latency --redis-url "$REDIS_URL" | tee "$TMP/latency.txt" || FAILED=1
        sed "s/^/- livepack live: /" "$TMP/latency.txt" >>"$TMP/notes.md"
    fi
done
stop_service

if [[ -z "${SKIP_PEERS:-}" ]]; then
    start_peer
    for s in $PEER_SCENARIOS; do scenario node "$s" --no-end-session; done
    stop_service
    start_peer --bullmq
    for s in $PEER_SCENARIOS; do scenario bullmq "$s" --no-end-session; done
    stop_service
fi

OUT=$RESULTS/surge-$STAMP.md
{
    echo "# livepack surge scenarios, $(date -u +'%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
        "$(free -g | awk '/Mem:/ {print $2}') GiB RAM; load before the run: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), appendonly yes," \
        "appendfsync everysec, ${REDIS_ARGS:-Redis defaults otherwise}, FLUSHALL between runs; livepack release build, planner on;"
    echo "node $(node --version 2>/dev/null || echo '-'); scale $SCALE, $OPF order(s) per frame;"
    echo "livepack ingest.max_orders_per_sec: $PACE (shipped default 100000)."
    echo "Reproduce: \`${REPRODUCE_ARGS:+$REPRODUCE_ARGS }bash load-tests/bench-surge.sh\`."
    echo
    "$SURGE" table "${REPORTS[@]}"
    echo
    echo "Notes (waves, idle connections' memory):"
    echo
    cat "$TMP/notes.md" 2>/dev/null || true
} >"$OUT"
echo
cat "$OUT"
echo "written: $OUT (JSON reports in $JSON_DIR)"
if [[ $FAILED != 0 ]]; then
    echo "bench-surge: some runs failed their checks (see above)" >&2
    exit 1
fi

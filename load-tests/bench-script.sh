#!/usr/bin/env bash
# The ingest script's cost against a minimal set-if-absent + XADD script (issue 20: ≤ 1.3×),
# both with `redis-benchmark EVALSHA` one order per call (`livepack-surge redis-limit
# --script ingest|minimal`), alternated ROUNDS times on one fresh Redis (appendonly yes,
# appendfsync everysec), FLUSHALL before each run. The cost is Redis's CPU per order (from
# /proc, robust on a shared machine); throughput is shown too.
# Writes load-tests/results/script-<date>.md. Knobs: ORDERS (100000), ROUNDS (3),
# CLIENTS (50), PIPELINE (16), SKIP_BUILD=1.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
ORDERS=${ORDERS:-100000}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
[[ -z "${SKIP_BUILD:-}" ]] && cargo build --release -p livepack-surge
SURGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/livepack-surge

TMP=$(mktemp -d /tmp/livepack-script.XXXXXX)
REDIS_PID=""
cleanup() {
    if [[ -n "$REDIS_PID" ]]; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
REDIS_PORT=$("$SURGE" free-port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TMP" --appendonly yes \
    --appendfsync everysec --save "" --daemonize no --logfile "$TMP/redis.log" &
REDIS_PID=$!
RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")
for _ in $(seq 100); do "${RCLI[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
"${RCLI[@]}" ping >/dev/null

REPORTS=()
for r in $(seq "$ROUNDS"); do
    for s in ingest minimal; do
        "${RCLI[@]}" flushall >/dev/null
        sleep 1
        "$SURGE" redis-limit --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --orders "$ORDERS" \
            --clients "$CLIENTS" --pipeline "$PIPELINE" --orders-per-call 1 --redis-pid "$REDIS_PID" \
            --script "$s" --name "$s script, round $r" --json "$TMP/$s-$r.json" >/dev/null
        REPORTS+=("$TMP/$s-$r.json")
    done
done

field() { # file, ops|cpu
    if [[ $2 == cpu ]]; then
        sed -n '/"redis": {/,/}/s/.*"cpu_s_per_1k_orders": \([0-9.e+-]*\).*/\1/p' "$1" | head -n 1
    else
        sed -n 's/.*"orders_per_sec": \([0-9.e+-]*\).*/\1/p' "$1" | head -n 1
    fi
}
SUMS=$(for f in "${REPORTS[@]}"; do
    echo "$(basename "$f" .json | cut -d- -f1) $(field "$f" ops) $(field "$f" cpu)"
done | awk '{ n[$1]++; ops[$1] += $2; cpu[$1] += $3 }
    END {
        printf "Over %d rounds: the ingest script costs **%.2f×** the minimal one by Redis CPU per order " \
            "(%.4f vs %.4f s/1k orders, means) and %.2f× by throughput (%.0f vs %.0f orders/s, means); target ≤ 1.3×.\n",
            n["ingest"], cpu["ingest"] / cpu["minimal"], cpu["ingest"] / n["ingest"], cpu["minimal"] / n["minimal"],
            (ops["minimal"] / n["minimal"]) / (ops["ingest"] / n["ingest"]), ops["ingest"] / n["ingest"], ops["minimal"] / n["minimal"]
    }')
OUT=$ROOT/load-tests/results/script-$(date +%Y-%m-%d-%H%M).md
{
    echo "# The ingest script against a minimal set-if-absent + XADD, $(date -u +'%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores; load before the run: $(cut -d' ' -f1-3 /proc/loadavg). Redis" \
        "$(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), appendonly yes, appendfsync everysec."
    echo "redis-benchmark EVALSHA -c $CLIENTS -P $PIPELINE, one ~1 KB order per call, $ORDERS orders a run, the two"
    echo "scripts alternated. Reproduce: \`bash load-tests/bench-script.sh\`."
    echo
    echo "$SUMS"
    echo
    "$SURGE" table "${REPORTS[@]}"
} >"$OUT"
cat "$OUT"

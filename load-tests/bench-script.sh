#!/usr/bin/env bash
# The ingest script's cost against a minimal set-if-absent + XADD script (issue 20: ≤ 1.3×),
# both with `redis-benchmark EVALSHA` one order per call (`livepack-surge redis-limit
# --script ingest|minimal`), alternated ROUNDS times on one fresh Redis (appendonly yes,
# appendfsync everysec), FLUSHALL before each run. The cost is Redis's CPU per order (from
# /proc, robust on a shared machine); throughput is shown too.
# Each pair runs per orders-per-call value (PER_CALL: one order a call is the hardest case,
# 100 a frame is what a pushing seller sends) and per tombstone state (TOMBS): `none` (a new
# seller: no tombstone bucket exists) and `live` (a seller whose orders already left Redis:
# every bucket the script checks exists, which is every seller after its first weeks).
# Writes load-tests/results/script-<date>.md. Knobs: ORDERS (100000), ROUNDS (3),
# CLIENTS (50), PIPELINE (16), PER_CALL ("1 100"), TOMBS ("none live"), SKIP_BUILD=1.
set -euo pipefail

cd "$(dirname "$0")/.."
source load-tests/lib.sh
ROOT=$PWD
ORDERS=${ORDERS:-100000}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
PER_CALL=${PER_CALL:-1 100}
TOMBS=${TOMBS:-none live}
for t in $TOMBS; do
    [[ $t == none || $t == live ]] || { echo "bench-script: TOMBS takes none and/or live, not '$t'" >&2; exit 2; }
done
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
start_redis "$REDIS_PORT" "$TMP"
RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")

REPORTS=()
SUMS=""
field() { # file, ops|cpu
    if [[ $2 == cpu ]]; then
        sed -n '/"redis": {/,/}/s/.*"cpu_s_per_1k_orders": \([0-9.e+-]*\).*/\1/p' "$1" | head -n 1
    else
        sed -n 's/.*"orders_per_sec": \([0-9.e+-]*\).*/\1/p' "$1" | head -n 1
    fi
}
for k in $PER_CALL; do
    for t in $TOMBS; do
        PAIR=()
        for r in $(seq "$ROUNDS"); do
            for s in ingest minimal; do
                "${RCLI[@]}" flushall >/dev/null
                if [[ $t == live ]]; then
                    # The buckets `livepack-surge redis-limit` passes (the default retention's:
                    # `TOMB_BUCKETS` = 6 in load-tests/src/limit.rs).
                    for b in 0 1 2 3 4 5; do
                        "${RCLI[@]}" hset "lp:{bench}:t:mat-ong-tam-diep:$b" TT-gone 9a0c5b1e >/dev/null
                    done
                fi
                sleep 1
                f="$TMP/$s-$k-$t-$r.json"
                "$SURGE" redis-limit --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --orders "$ORDERS" \
                    --clients "$CLIENTS" --pipeline "$PIPELINE" --orders-per-call "$k" --redis-pid "$REDIS_PID" \
                    --script "$s" --name "$s script, $k a call, tombstones $t, round $r" --json "$f" >/dev/null
                REPORTS+=("$f")
                PAIR+=("$s $(field "$f" ops) $(field "$f" cpu)")
            done
        done
        SUMS+=$(printf '%s\n' "${PAIR[@]}" | awk -v k="$k" -v t="$t" '{ n[$1]++; ops[$1] += $2; cpu[$1] += $3 }
            END {
                printf "| %d | %s | **%.2f×** | %.4f | %.4f | %.2f× | %.0f | %.0f |\n", k, t,
                    cpu["ingest"] / cpu["minimal"], cpu["ingest"] / n["ingest"], cpu["minimal"] / n["minimal"],
                    (ops["minimal"] / n["minimal"]) / (ops["ingest"] / n["ingest"]), ops["ingest"] / n["ingest"], ops["minimal"] / n["minimal"]
            }')$'\n'
    done
done
OUT=$ROOT/load-tests/results/script-$(date +%Y-%m-%d-%H%M).md
# Two runs finished within a minute must not share a name.
[[ -e "$OUT" ]] && OUT=$ROOT/load-tests/results/script-$(date +%Y-%m-%d-%H%M%S).md
{
    echo "# The ingest script against a minimal set-if-absent + XADD, $(date -u +'%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores; load before the run: $(cut -d' ' -f1-3 /proc/loadavg). Redis" \
        "$(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), appendonly yes, appendfsync everysec."
    echo "redis-benchmark EVALSHA -c $CLIENTS -P $PIPELINE, ~1 KB orders, $ORDERS orders a run, the two"
    echo "scripts alternated, $ROUNDS rounds each. Reproduce: \`bash load-tests/bench-script.sh\`."
    echo
    echo "The ingest script's cost against the minimal one (target ≤ 1.3×), means over the rounds:"
    echo
    echo "| orders a call | tombstones | ingest ÷ minimal, Redis CPU | ingest s/1k orders | minimal s/1k orders | by throughput | ingest orders/s | minimal orders/s |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s' "$SUMS"
    echo
    "$SURGE" table "${REPORTS[@]}"
} >"$OUT"
cat "$OUT"

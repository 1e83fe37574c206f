#!/usr/bin/env bash
# Redis memory per waved order (issue 20: target ≤ 1.5 KB): a fresh Redis (appendonly yes,
# appendfsync everysec), livepack with the planner on, the `flash` scenario (its sessions
# end and every order is checked to be in exactly one wave), then INFO used_memory over the
# orders (minus the empty dataset) and MEMORY USAGE of every key, grouped by key kind.
# Twice in one run: Redis defaults, then hash-max-listpack-value 4096 (deploy/compose.yaml).
# Writes load-tests/results/memory-<date>.md.
# Knobs (environment): SCALE (flash scenario scale, default 1.0: 3,000 orders), SKIP_BUILD=1, KEEP_TMP=1,
# LIVEPACK=/path/to/a/livepack binary (e.g. an older build, for a before/after).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
source load-tests/lib.sh
SCALE=${SCALE:-1.0}
TOKENS=(--token demo-seller-mat-ong-tam-diep-token --token demo-seller-tra-shan-tuyet-token)
if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release -p livepack -p livepack-surge
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LIVEPACK=${LIVEPACK:-$TARGET/release/livepack}
SURGE=$TARGET/release/livepack-surge

TMP=$(mktemp -d /tmp/livepack-mem.XXXXXX)
REDIS_PID=""
LP_PID=""
cleanup() {
    stop_pid LP_PID
    stop_pid REDIS_PID
    if [[ -z "${KEEP_TMP:-}" ]]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT
RESULTS=$ROOT/load-tests/results
mkdir -p "$RESULTS"
OUT=$RESULTS/memory-$(date +%Y-%m-%d-%H%M).md

measure() { # title, extra redis-server arguments...
    local title=$1 dir
    shift
    dir=$(mktemp -d "$TMP/run.XXXX")
    REDIS_PORT=$("$SURGE" free-port)
    start_redis "$REDIS_PORT" "$dir" "$@"
    RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")

    LP_PORT=$("$SURGE" free-port)
    LIVEPACK__REDIS__URL="redis://127.0.0.1:$REDIS_PORT/0" \
    LIVEPACK__SERVER__LISTEN="127.0.0.1:$LP_PORT" \
    LIVEPACK__LOG__LEVEL=warn \
    LIVEPACK__INGEST__MAX_ORDERS_PER_SEC=1000000 \
        "$LIVEPACK" serve >"$dir/livepack.log" 2>&1 &
    LP_PID=$!
    wait_ready "$LP_PORT" "$LP_PID" "$dir/livepack.log"
    local mem0 mem1 orders waved
    mem0=$(used)
    "$SURGE" scenario --name flash --url "ws://127.0.0.1:$LP_PORT" "${TOKENS[@]}" --scale "$SCALE" \
        --no-progress --json "$dir/flash.json"
    # The outlook (a 10-minute key) lists the last plan's pending orders until the planner's
    # next pass finds its queue empty and publishes none: wait for that (up to 15 s), so the
    # measurement does not depend on when the run stopped (0–175 bytes an order otherwise).
    for _ in $(seq 150); do
        curl -fsS -H "Authorization: Bearer demo-operator-token-change-me" \
            "http://127.0.0.1:$LP_PORT/v1/sites/hoa-lu-hub/outlook" 2>/dev/null |
            grep -q '"pending":0[,}]' && break
        sleep 0.1
    done
    # Stop the service so nothing changes while the keys are read.
    stop_pid LP_PID
    mem1=$(used)
    # Kept with KEEP_TMP=1: where used_memory beyond the keys went.
    "${RCLI[@]}" info memory >"$dir/info-memory"
    "${RCLI[@]}" memory stats >"$dir/memory-stats"

    # Every key: its MEMORY USAGE (all samples), grouped by kind (the key with ids stripped).
    "${RCLI[@]}" --scan >"$dir/keys"
    while read -r k; do
        printf 'MEMORY USAGE "%s" SAMPLES 0\n' "$k"
    done <"$dir/keys" | "${RCLI[@]}" >"$dir/sizes"
    orders=$(grep -c ':o:' "$dir/keys" || true)
    waved=$(grep -m1 ':o:' "$dir/keys" || true)
    {
        echo "## $title"
        echo
        echo "Orders stored: $orders. INFO used_memory: $mem0 before, $mem1 after:" \
            "**$(( (mem1 - mem0) / (orders > 0 ? orders : 1) )) bytes per waved order** (includes allocator and key-space overhead)."
        # Field names only: `data` is packed (binary) since redis.pack_documents.
        echo "A waved order's hash: encoding $("${RCLI[@]}" object encoding "$waved"), fields" \
            "\`$("${RCLI[@]}" hkeys "$waved" | paste -sd' ')\`" \
            "(data $("${RCLI[@]}" hstrlen "$waved" data) bytes)."
        echo
        paste "$dir/keys" "$dir/sizes" | awk -F'\t' -v n="$orders" '
            {
                k = $1
                if (k ~ /:o:/) kind = "order hash (lp:{site}:o:seller:id)"
                else if (k ~ /:p:[^:]*:cancel_lock$/) kind = "parcel cancel lock"
                else if (k ~ /:p:/) kind = "parcel hash (lp:{site}:p:id)"
                else if (k ~ /:w:[^:]*:picks$/) kind = "wave picks"
                else if (k ~ /:w:/) kind = "wave hash (lp:{site}:w:id)"
                else if (k ~ /:sh:[^:]*:(parcels|plist)$/) kind = "shipment parcels (list, or the older set)"
                else if (k ~ /:sh:/) kind = "shipment hash"
                else if (k ~ /:in$/) kind = "site stream (lp:{site}:in)"
                else if (k ~ /:t:/) kind = "tombstones"
                else if (k ~ /:s:[^:]*:[^:]*:risk[wl]?$/) kind = "session risk records (waved orders by risk time)"
                else if (k ~ /:s:/) kind = "session hash"
                else { kind = k; sub(/\{[^}]*\}/, "{site}", kind); gsub(/[0-9]{4}-[0-9]{2}-[0-9]{2}/, "DATE", kind) }
                bytes[kind] += $2; count[kind] += 1; total += $2
            }
            END {
                printf "| key kind | keys | bytes | bytes/order |\n|---|---:|---:|---:|\n"
                for (x in bytes) printf "| %s | %d | %d | %.0f |\n", x, count[x], bytes[x], bytes[x] / n | "sort -t\"|\" -k4 -nr"
                close("sort -t\"|\" -k4 -nr")
                printf "| **all keys (MEMORY USAGE)** | %d | %d | **%.0f** |\n", NR, total, total / n
            }'
        echo
    } >>"$OUT"
    stop_pid REDIS_PID
}
used() { "${RCLI[@]}" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }

{
    echo "# Redis memory per waved order, $(date -u +'%Y-%m-%d %H:%M UTC')"
    echo
    echo "Redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), appendonly yes, appendfsync everysec, a fresh"
    echo "Redis per run; livepack \`$LIVEPACK\` (planner on), \`livepack-surge scenario --name flash --scale $SCALE\`:"
    echo "sessions ended, every order checked to be in exactly one wave. Reproduce: \`bash load-tests/bench-memory.sh\`."
    echo
} >"$OUT"
measure "Redis defaults (hash-max-listpack-value 64)"
measure "hash-max-listpack-value 4096 (deploy/compose.yaml)" --hash-max-listpack-value 4096
cat "$OUT"
echo "written: $OUT"

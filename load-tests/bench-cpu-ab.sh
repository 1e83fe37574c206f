#!/usr/bin/env bash
# Service CPU per order, builds alternated (issue 20): for each round, each given livepack
# binary in turn (the order reversed every other round) serves a fresh Redis (AOF everysec)
# with the planner off while `livepack-surge ingest` sends ORDERS orders over CONNS
# connections, PER_FRAME a frame; prints each run's service CPU (utime + stime from /proc),
# throughput and peak RSS (VmHWM), then each binary's mean CPU. For changes smaller than bench-ingest.sh's
# run-to-run spread: same shape, more runs, one line each.
#
#   bash load-tests/bench-cpu-ab.sh /path/to/livepack-before /path/to/livepack-after
#
# Knobs (environment): ROUNDS (5), ORDERS (300000), CONNS (10), PER_FRAME (100), REDIS_ARGS
# (redis-server settings: unset, livepack's embedded Redis' (lib.sh EMBEDDED_REDIS_ARGS); ""
# for Redis' defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
source load-tests/lib.sh
(($# >= 1)) || { sed -n '2,9p' "$0" >&2; exit 2; }
ROUNDS=${ROUNDS:-5}
ORDERS=${ORDERS:-300000}
CONNS=${CONNS:-10}
PER_FRAME=${PER_FRAME:-100}
redis_settings
SURGE=${CARGO_TARGET_DIR:-$PWD/target}/release/livepack-surge
[[ -x $SURGE ]] || cargo build --release -p livepack-surge

TMP=""
RPID=""
LPID=""
stop() {
    [[ -n $LPID ]] && kill "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
    [[ -n $RPID ]] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    [[ -n $TMP ]] && rm -rf "$TMP"
    LPID="" RPID="" TMP=""
}
trap stop EXIT

run() { # binary → "cpu_s orders_per_s peak_rss_mib"
    TMP=$(mktemp -d /tmp/livepack-ab.XXXXXX)
    local rport lport
    rport=$("$SURGE" free-port)
    start_redis "$rport" "$TMP" ${REDIS_EXTRA[@]+"${REDIS_EXTRA[@]}"}
    RPID=$REDIS_PID
    lport=$("$SURGE" free-port)
    LIVEPACK__REDIS__URL="redis://127.0.0.1:$rport/0" LIVEPACK__SERVER__LISTEN="127.0.0.1:$lport" \
    LIVEPACK__PLANNER__ENABLED=false LIVEPACK__LOG__LEVEL=warn \
    LIVEPACK__INGEST__MAX_ORDERS_PER_SEC=1000000 "$1" serve >"$TMP/livepack.log" 2>&1 &
    LPID=$!
    wait_ready "$lport" "$LPID" "$TMP/livepack.log"
    "$SURGE" ingest --url "ws://127.0.0.1:$lport" --token demo-seller-mat-ong-tam-diep-token \
        --token demo-seller-tra-shan-tuyet-token --connections "$CONNS" --orders "$ORDERS" \
        --orders-per-frame "$PER_FRAME" --session-prefix "ab$RANDOM" --no-progress \
        --server-pid "$LPID" --redis-pid "$RPID" --name ab --json "$TMP/report.json" >/dev/null
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
s = d["server"]; print(s["cpu_s"], round(d["orders_per_sec"]), s["peak_rss_kib"] // 1024)' "$TMP/report.json"
    stop
}

echo "Redis: appendfsync everysec, ${REDIS_ARGS:-Redis defaults otherwise}"
LINES=()
for round in $(seq "$ROUNDS"); do
    bins=("$@")
    ((round % 2 == 0)) && mapfile -t bins < <(printf '%s\n' "$@" | tac)
    for bin in "${bins[@]}"; do
        read -r cpu rate rss < <(run "$bin")
        LINES+=("$bin $cpu")
        awk -v r="$round" -v b="$bin" -v c="$cpu" -v n="$ORDERS" -v t="$rate" -v m="$rss" 'BEGIN {
            printf "round %d  %-40s  service %.2f CPU s (%.4f s per 1k orders), %s orders/s, peak RSS %s MiB\n",
                r, b, c, c * 1000 / n, t, m }'
    done
done
printf '%s\n' "${LINES[@]}" | awk -v n="$ORDERS" '
    { if (!($1 in s)) order[++k] = $1; s[$1] += $2; c[$1]++ }
    END { for (i = 1; i <= k; i++) { b = order[i]
        printf "mean   %-40s  %.3f CPU s (%.4f s per 1k orders)\n", b, s[b] / c[b], s[b] * 1000 / c[b] / n } }'

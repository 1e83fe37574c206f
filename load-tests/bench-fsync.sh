#!/usr/bin/env bash
# appendfsync always vs everysec, side by side on one redis-server whose AOF is on this
# machine's disk: redis-benchmark runs livepack's own ingest script (EVALSHA, via
# `livepack-surge redis-limit`) at several shapes, alternating the two settings
# (CONFIG SET appendfsync) so machine noise hits both. The fsync is the only part of an ack
# that differs between the settings; livepack's own work per frame is the same.
# Prints a markdown table. Knobs: ORDERS (default 50000), ROUNDS (2), SURGE (binary).
set -euo pipefail
cd "$(dirname "$0")/.."
source load-tests/lib.sh
ORDERS=${ORDERS:-50000}
ROUNDS=${ROUNDS:-2}
SURGE=${SURGE:-${CARGO_TARGET_DIR:-$PWD/target}/debug/livepack-surge}
[[ -x "$SURGE" ]] || cargo build -p livepack-surge
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/livepack-fsync.XXXXXX")
REDIS_PID=""
cleanup() {
    [[ -n "$REDIS_PID" ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
PORT=$("$SURGE" free-port)
start_redis "$PORT" "$TMP"
RCLI=(redis-cli -h 127.0.0.1 -p "$PORT")
echo "# appendfsync always vs everysec, $(date -u +'%Y-%m-%d %H:%M UTC'), AOF on $(df -T "$TMP" | awk 'NR==2 {print $2}') ($TMP)"
echo
echo "| shape (clients × pipeline × orders/call) | round | everysec orders/s | always orders/s | always / everysec |"
echo "|---|---:|---:|---:|---:|"
run() { # fsync clients pipeline per-call orders → orders/s
    "${RCLI[@]}" config set appendfsync "$1" >/dev/null
    "${RCLI[@]}" flushall >/dev/null
    "$SURGE" redis-limit --redis-url "redis://127.0.0.1:$PORT/0" --orders "$5" \
        --clients "$2" --pipeline "$3" --orders-per-call "$4" --json "$TMP/r.json" >/dev/null 2>&1
    python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["orders_per_sec"]))' "$TMP/r.json"
}
# The unpipelined shapes wait for one fsync per call: fewer orders keep them short.
for shape in "50 16 1 $ORDERS" "4 16 1 $ORDERS" "10 1 1 $((ORDERS / 5))" "1 1 1 $((ORDERS / 25))" "10 2 100 $ORDERS"; do
    read -r c p k n <<<"$shape"
    for round in $(seq "$ROUNDS"); do
        e=$(run everysec "$c" "$p" "$k" "$n")
        a=$(run always "$c" "$p" "$k" "$n")
        echo "| $c × $p × $k | $round | $e | $a | $(python3 -c "print(f'{$a/$e:.2f}')") |"
    done
done

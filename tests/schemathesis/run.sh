#!/usr/bin/env bash
# Fuzzes the HTTP API with schemathesis against the service's own /openapi.json: every
# operation, with the operator's token, checking that no answer is a 5xx and that every
# answer matches its schema. Starts the `livepack` binary on an embedded Redis (demo
# config, a free port, a temp data dir), seeds orders so real waves, parcels and shipments
# exist, runs a bounded number of examples, stops the service. Exits non-zero on failures.
#
# Env: ST_MAX_EXAMPLES (default 50), ST_TIME_LIMIT seconds (default 900), LIVEPACK_BIN
# (default: cargo build, target/debug/livepack), ST_SEED.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/schemathesis
venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$(sed -n 's/^schemathesis==//p' $here/requirements.txt)"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
bin=${LIVEPACK_BIN:-}
if [ -z "$bin" ]; then
    cargo build --quiet --bin livepack
    bin=target/debug/livepack
fi
command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install -y redis-server)" >&2; exit 2; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
LIVEPACK__SERVER__LISTEN="127.0.0.1:$port" LIVEPACK__REDIS__DATA_DIR="$work/data" RUST_LOG=warn \
    "$bin" serve >"$work/livepack.log" 2>&1 &
pid=$!
cleanup() {
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    if [ "${status:-1}" != 0 ]; then
        echo "--- livepack log (last 40 lines) ---" >&2
        tail -40 "$work/livepack.log" >&2 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 150); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "livepack exited at start" >&2; exit 1; }
    sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null

"$venv/bin/python" "$here/seed.py" "$base" "$bin" "$work"

status=0
# Run from the temp dir: schemathesis keeps a cache (.schemathesis/) in its working directory.
st=$(pwd)/$venv/bin/schemathesis
(cd "$work" && timeout --signal=INT "${ST_TIME_LIMIT:-900}" \
    "$st" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
    --header "Authorization: Bearer demo-operator-token-change-me" \
    --checks "${ST_CHECKS:-not_a_server_error,response_schema_conformance}" \
    --max-examples "${ST_MAX_EXAMPLES:-50}" \
    --exclude-path /v1/ingest --exclude-path '/v1/sites/{site}/events' \
    --request-timeout 10 --workers 1 --no-color \
    ${ST_SEED:+--seed "$ST_SEED"}) || status=$?
if grep -q "panicked" "$work/livepack.log"; then
    echo "the service panicked during the run" >&2
    grep -m5 -A3 "panicked" "$work/livepack.log" >&2
    status=1
fi
exit "$status"

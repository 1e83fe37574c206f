# Shared by the load-tests scripts (`source load-tests/lib.sh` from the repository's root): a
# scratch Redis, waiting for a service to be ready, stopping a process.

# The settings livepack's embedded Redis runs with (src/store/embedded.rs `REDIS_TUNING`, also
# in deploy/compose.yaml; a unit test keeps the three equal): the surge, ingest, CPU A/B and
# Redis-time benchmarks give them to their Redis unless REDIS_ARGS says otherwise (REDIS_ARGS=""
# runs Redis' defaults).
EMBEDDED_REDIS_ARGS="--hash-max-listpack-value 4096 --auto-aof-rewrite-min-size 1gb"

# Those benchmarks' Redis settings: REDIS_ARGS (the embedded ones when unset), REDIS_EXTRA (them
# as an array, for start_redis) and REPRODUCE_ARGS (`REDIS_ARGS="…"` for a report's reproduce
# line when they are not the embedded ones, else empty).
redis_settings() {
    REDIS_ARGS=${REDIS_ARGS-$EMBEDDED_REDIS_ARGS}
    read -r -a REDIS_EXTRA <<<"$REDIS_ARGS"
    REPRODUCE_ARGS=""
    if [[ "$REDIS_ARGS" != "$EMBEDDED_REDIS_ARGS" ]]; then
        REPRODUCE_ARGS="REDIS_ARGS=\"$REDIS_ARGS\""
    fi
}

# Starts redis-server on 127.0.0.1:PORT with its files in DIR (AOF on, appendfsync everysec, no
# RDB snapshots), then any more arguments given; sets REDIS_PID and returns once Redis answers
# PING (after 10 s a failing PING ends a `set -e` script).
start_redis() { # port, dir, more redis-server arguments...
    local port=$1 dir=$2
    shift 2
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes \
        --appendfsync everysec --save "" --daemonize no --logfile "$dir/redis.log" "$@" &
    REDIS_PID=$!
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null
}

# Waits up to 20 s for the service on 127.0.0.1:PORT to answer /readyz; if its process (PID)
# ends first, prints its LOG and exits.
wait_ready() { # port, pid, log
    for _ in $(seq 200); do
        curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || { cat "$3" >&2; exit 1; }
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null
}

# Stops the process whose pid the named variable holds, if any, and empties the variable.
stop_pid() { # variable name
    local pid=${!1}
    if [[ -n "$pid" ]]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    printf -v "$1" '%s' ""
}

# syntax=docker/dockerfile:1.7
# livepack: built with the cargo cache, run on slim Debian with redis-server for the
# embedded mode. Config by env: LIVEPACK__REDIS__URL, LIVEPACK__SERVER__LISTEN, ...
# (a file with [[sites]]/[[sellers]] via LIVEPACK_CONFIG). Checked by scripts/check-dockerfile
# (hadolint and a test that every COPY source exists and the workspace builds from them).

# The toolchain must be at least the highest rust-version of the locked dependencies
# (zip 9.8 and uuid 1.29 need 1.89, krilla 0.8 1.92; the tests here run on 1.95).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Every workspace member's manifest and sources (members = [".", "load-tests"]); benches/
# because Cargo.toml declares [[bench]] planner; config/ because config/default.toml is
# compiled into the binary (include_str!); assets/ for the label fonts (include_bytes!).
COPY Cargo.toml Cargo.lock ./
COPY load-tests/Cargo.toml load-tests/Cargo.toml
COPY load-tests/src load-tests/src
COPY benches benches
COPY config config
COPY src src
COPY assets assets
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin livepack \
 && cp target/release/livepack /usr/local/bin/livepack

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/livepack --create-home livepack \
 && install -d -o livepack -g livepack /var/lib/livepack/data /var/lib/livepack/archive
COPY --from=build /usr/local/bin/livepack /usr/local/bin/livepack
# For reference only: the defaults are compiled in; mount your own file and point
# LIVEPACK_CONFIG at it. The image listens on 0.0.0.0, so the built-in demo (demo tokens,
# PIN, webhook secret, mock carrier) only starts when asked for: `docker run … serve --demo`
# or `-e LIVEPACK_DEMO=1`; otherwise `serve` exits naming each demo key left in the config.
COPY config/default.toml /etc/livepack/default.toml
USER 10001
WORKDIR /var/lib/livepack
# MIMALLOC_ALLOW_THP=0: no transparent huge pages for the service even where the host's THP
# mode is `always` (the build's `no_thp` covers `madvise`): up to 16 % less CPU per order.
ENV MIMALLOC_ALLOW_THP=0 \
    LIVEPACK__SERVER__LISTEN=0.0.0.0:8080 \
    LIVEPACK__REDIS__DATA_DIR=/var/lib/livepack/data \
    LIVEPACK__RETENTION__ARCHIVE_DIR=/var/lib/livepack/archive \
    LIVEPACK__LOG__FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/livepack/data", "/var/lib/livepack/archive"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/livepack"]
CMD ["serve"]

# syntax=docker/dockerfile:1.7
# livepack: build with the cargo cache, run on slim Debian with redis-server for the
# embedded mode. Config by env: LIVEPACK__REDIS__URL, LIVEPACK__SERVER__LISTEN, ...

FROM rust:1.88-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY load-tests/Cargo.toml load-tests/Cargo.toml
COPY src src
COPY config config
COPY load-tests/src load-tests/src
COPY benches benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin livepack \
 && cp target/release/livepack /usr/local/bin/livepack

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/livepack --create-home livepack
COPY --from=build /usr/local/bin/livepack /usr/local/bin/livepack
COPY config /etc/livepack
USER livepack
WORKDIR /var/lib/livepack
ENV LIVEPACK__SERVER__LISTEN=0.0.0.0:8080 \
    LIVEPACK__REDIS__DATA_DIR=/var/lib/livepack/data \
    LIVEPACK__LOG__FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/livepack/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/livepack"]
CMD ["serve"]

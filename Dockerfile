# syntax=docker/dockerfile:1
# Pynomaly's container: `pynomaly serve` by default (target `runtime`), or the queue worker
# (target `worker`). Build: docker build -t pynomaly . ; docker build --target worker -t pynomaly-worker .

FROM rust:1.88-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p pynomaly \
    && install -D -m 0755 target/release/pynomaly /out/pynomaly \
    && install -d -m 0755 /out/data

FROM debian:bookworm-slim AS runtime
# The SDKs verify TLS against the system roots; take them from the build image rather
# than installing packages here.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/pynomaly /usr/local/bin/pynomaly
COPY --from=build --chown=10001:10001 /out/data /data
ENV PYNOMALY_HOST=0.0.0.0 \
    PYNOMALY_PORT=8000 \
    PYNOMALY_DATA_DIR=/data \
    RUST_LOG=info
WORKDIR /data
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["pynomaly", "probe", "http://127.0.0.1:8000/health"]
ENTRYPOINT ["pynomaly"]
CMD ["serve"]

FROM runtime AS worker
# The worker's /metrics and /health (it serves no API).
ENV PYNOMALY_METRICS_PORT=9100
EXPOSE 9100
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["pynomaly", "probe", "http://127.0.0.1:9100/health"]
CMD ["worker"]

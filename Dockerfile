# Switchyard container image: a builder on the toolchain `rust-toolchain.toml` pins, and a
# small Debian runtime with only the binary, run as a non-root user. `data/` (config,
# SQLite database, logins) and `logs/` (debug logs) are volumes.
#
#   docker build -t switchyard .
#   docker run -p 4100:4100 -v sy-data:/app/data -v sy-logs:/app/logs switchyard
#
# The listener is 0.0.0.0:4100 inside the container; clients from outside it are not on
# loopback, so `data/config.toml` needs `[[client_keys]]` (or every request is refused).

FROM rust:1.95.0-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p switchyard-server --bin switchyard \
 && strip target/release/switchyard \
 && cp target/release/switchyard /switchyard

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin switchyard \
 && mkdir -p /app/data /app/logs \
 && chown -R switchyard:switchyard /app
COPY --from=builder /switchyard /usr/local/bin/switchyard
WORKDIR /app
USER switchyard
ENV SWITCHYARD_LISTEN=0.0.0.0:4100
EXPOSE 4100
VOLUME ["/app/data", "/app/logs"]
# bash builtins only (/dev/tcp, read): no curl, and the same check `cargo xtask image` gives
# the image it assembles from scratch, where bash is the only tool.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/4100 && printf 'GET /health HTTP/1.1\\r\\nhost: localhost\\r\\nconnection: close\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == *' 200 '* ]]"]
ENTRYPOINT ["switchyard"]
CMD ["serve"]

# Multi-stage build of the percore examples and server.
# The static file server's own issue completes this image (non-root user,
# baked-in config, seccomp profile for io_uring).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p percore-examples -p percore-server

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 percore
COPY --from=build /src/target/release/hello /usr/local/bin/hello
COPY config.toml /etc/percore/config.toml
USER percore
EXPOSE 8080
# Docker's default seccomp profile blocks io_uring: run with a profile that allows it.
ENTRYPOINT ["/usr/local/bin/hello", "--listen", "0.0.0.0:8080", "--config", "/etc/percore/config.toml"]

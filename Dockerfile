# percore-server: multi-stage build, small runtime image, non-root user.
#
#   docker build -t percore .
#   docker run --rm -p 8080:8080 -v "$PWD/public:/srv:ro" \
#     --security-opt seccomp=docker/seccomp-io_uring.json percore
#
# Docker's default seccomp profile blocks io_uring; docker/seccomp-io_uring.json
# allows it (and little else). Without it the server exits with one line that
# names this fix.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p percore-server \
 && strip target/release/percore-server

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home percore \
 && mkdir -p /srv /etc/percore
COPY --from=build /src/target/release/percore-server /usr/local/bin/percore-server
COPY config.toml /etc/percore/config.toml
USER percore
EXPOSE 8080
WORKDIR /srv
ENTRYPOINT ["/usr/local/bin/percore-server", "--config", "/etc/percore/config.toml", "--listen", "0.0.0.0:8080", "--root", "/srv"]

# percore-server: multi-stage build, small runtime image, non-root user.
#
#   docker build -t percore .
#   docker run --rm -p 8080:8080 -v "$PWD/public:/srv:ro" \
#     --security-opt seccomp=docker/seccomp-io_uring.json percore [FLAGS]
#
# Docker Engine 25.0 and later block io_uring in their default seccomp
# profile; docker/seccomp-io_uring.json allows it (and little else; the image
# carries a copy at /etc/percore/seccomp-io_uring.json). Without it the server
# exits with one line that names this fix. The settings are in
# docker/config.toml (/etc/percore/config.toml); FLAGS override them.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p percore-server \
 && strip target/release/percore-server

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 percore \
 && useradd --system --uid 10001 --gid 10001 --no-create-home percore \
 && mkdir -p /srv /etc/percore
COPY --from=build /src/target/release/percore-server /usr/local/bin/percore-server
COPY docker/config.toml /etc/percore/config.toml
COPY docker/seccomp-io_uring.json /etc/percore/seccomp-io_uring.json
USER 10001:10001
EXPOSE 8080
WORKDIR /srv
# Only the config file here, so `docker run percore --listen ...` works.
ENTRYPOINT ["/usr/local/bin/percore-server", "--config", "/etc/percore/config.toml"]

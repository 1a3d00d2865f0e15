# flowpolicy container image (see deploy/README.md):
#   docker build -t registry.example.com/flowpolicy:dev .
# Build stage: a release binary (pure-Rust protobuf, no protoc; zstd's C code
# needs the compiler the Rust image ships).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin flowpolicy

# Run stage: Debian slim (the merge CronJob uses /bin/sh for its shard glob),
# running as the unprivileged user 65532.
FROM debian:bookworm-slim
COPY --from=build /src/target/release/flowpolicy /usr/local/bin/flowpolicy
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/flowpolicy"]

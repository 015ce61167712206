# syntax=docker/dockerfile:1
#
# flotilla: multi-stage build.
#
#   make image                       # docker build -t ghcr.io/flotilla-dev/flotilla:<version> .
#   docker buildx build --platform linux/amd64,linux/arm64 -t … .
#
# Stages: builder (Rust, release build of the `flotilla` binary), kubectl
# (pinned release, checked by SHA-256), runtime (debian slim, non-root).
#
# Why debian-slim rather than distroless: the binary links libssl, libcrypto
# (git2 https/ssh) and libz dynamically; distroless/cc has no libz.
#
# Why kubectl: desired state is rendered with kustomize, through
# `kubectl kustomize` (kubectl v1.32 bundles kustomize v5.5, the same
# version the test suite runs). flotilla itself needs no git binary (git2).

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
# The build needs only the workspace sources; see .dockerignore.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin flotilla \
 && install -m 0755 target/release/flotilla /usr/local/bin/flotilla

FROM debian:${DEBIAN_RELEASE}-slim AS kubectl
# Checksums are the official ones published beside each binary at
# https://dl.k8s.io/release/<version>/bin/linux/<arch>/kubectl.sha256.
# To upgrade: change the version and both checksums together.
ARG KUBECTL_VERSION=v1.32.4
ARG KUBECTL_SHA256_AMD64=10d739e9af8a59c9e7a730a2445916e04bc9cbb44bc79d22ce460cd329fa076c
ARG KUBECTL_SHA256_ARM64=c6f96d0468d6976224f5f0d81b65e1a63b47195022646be83e49d38389d572c2
ARG TARGETARCH=amd64
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    case "${TARGETARCH}" in \
      amd64) sum="${KUBECTL_SHA256_AMD64}" ;; \
      arm64) sum="${KUBECTL_SHA256_ARM64}" ;; \
      *) echo "unsupported architecture ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl"; \
    echo "${sum}  /usr/local/bin/kubectl" | sha256sum -c -; \
    chmod 0755 /usr/local/bin/kubectl

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# libssl3 for git2 over https; zlib1g is already part of the base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin nonroot \
 && install -d -o 65532 -g 65532 /var/lib/flotilla
COPY --from=kubectl /usr/local/bin/kubectl /usr/local/bin/kubectl
COPY --from=builder /usr/local/bin/flotilla /usr/local/bin/flotilla
# kubectl and git2 want a writable home; the Deployment mounts an emptyDir on /tmp.
ENV HOME=/tmp
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["flotilla"]
CMD ["--help"]

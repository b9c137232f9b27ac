# syntax=docker/dockerfile:1
# HitCounterServer image: build with the Swift toolchain, run on plain Ubuntu.
#   podman build -t hitcounter .      (or: docker build -t hitcounter .)
# The Swift version must read the dependencies' manifests (swift-tools-version
# 6.2 at least); 6.3 is what the project's own tests run on.
ARG SWIFT_VERSION=6.3

FROM swift:${SWIFT_VERSION}-noble AS build

# DL3008 (pin apt versions): the build stage is thrown away, and the exact
# hiredis and librdkafka versions come with the base image's Ubuntu release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libhiredis-dev librdkafka-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Dependencies first, so editing the sources does not fetch them again.
COPY Package.swift ./
RUN swift package resolve

COPY Sources ./Sources
COPY Tests ./Tests

# The Swift runtime and Foundation go into the binary (--static-swift-stdlib),
# so the runtime image needs no Swift; hiredis and librdkafka stay shared libraries.
RUN swift build -c release --static-swift-stdlib --product HitCounterServer \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/HitCounterServer" \
        /staging/HitCounterServer


FROM ubuntu:noble

# DL3008 (pin apt versions): pins would break on every Ubuntu security update;
# the versions follow the pinned base release (noble) instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates \
        libhiredis1.1.0 \
        librdkafka1 \
        tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 hitcounter \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin hitcounter

COPY --from=build /staging/HitCounterServer /usr/local/bin/HitCounterServer

# Fails the image build, not the first pod, if a shared library is missing.
RUN ["/usr/local/bin/HitCounterServer", "--help"]

# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080
# 0.0.0.0: the default (127.0.0.1) is unreachable from outside the container.
ENTRYPOINT ["/usr/local/bin/HitCounterServer", "--hostname", "0.0.0.0"]

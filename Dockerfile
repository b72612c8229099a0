# The image manifests/daemonset.yaml runs, for machines that reach a
# registry:   docker build -t bpfence/bpfence:0.1.0 .
# Without a registry, scripts/image.sh builds the same image from Debian's
# mirror alone (debootstrap + podman).
#
# Build stage: the project's own setup (its package list), the agent and the
# CLI only, debug info stripped.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
RUN BPFENCE_SETUP_TARGETS="bpfence-agent bpfence" BPFENCE_BUILD_DIR=/build scripts/setup.sh \
 && mkdir /out \
 && strip --strip-debug -o /out/bpfence-agent /build/agent/agentd/bpfence-agent \
 && strip --strip-debug -o /out/bpfence /build/agent/cli/bpfence

# Runtime stage: the two binaries and the libraries they load; no compiler,
# no package lists.
FROM debian:bookworm-slim
COPY image/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(grep -v '^#' /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
COPY --from=build /out/bpfence-agent /out/bpfence /usr/local/bin/
LABEL org.opencontainers.image.title="bpfence" \
      org.opencontainers.image.description="Kubernetes NetworkPolicy on eBPF: bpfence-agent and the bpfence CLI"
ENTRYPOINT ["/usr/local/bin/bpfence-agent"]

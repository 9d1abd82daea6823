# The kbatch image the Deployments in manifests/deploy run (`make image`): the `kbatch`
# binary alone on a distroless base with no shell, as the non-root user 65532.
#
# The binary links only glibc, libm and libgcc_s (TLS is rustls, no OpenSSL), which the
# `cc` distroless image carries; both stages are Debian 12 so the glibc versions match.

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# --locked: the image is built from exactly the dependency versions CI tested.
RUN cargo build --release --locked -p kbatch-webhook --bin kbatch \
 && cp target/release/kbatch /kbatch

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /kbatch /kbatch
# The Deployments also set runAsUser 65532 and a read-only root filesystem; kbatch writes
# nothing to disk (its certificate and key are mounted read-only).
USER 65532:65532
ENTRYPOINT ["/kbatch"]

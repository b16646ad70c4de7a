# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on a distroless base, running as a
# non-root user. scripts/build-static uses the same flags, so CI checks the
# exact binary this image would hold without needing a Docker engine.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w -extldflags=-static" \
        -o /out/sentinel ./cmd/sentinel
# The state directory must exist in the image, owned by the non-root user:
# a new named volume takes its ownership from it, and distroless has no
# shell to create it later.
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sentinel /usr/local/bin/sentinel
COPY --from=build --chown=65532:65532 /out/state /var/lib/sentinel
# State (checkpoints, alert journal) lives here; mount a volume on it.
ENV STATE_DIRECTORY=/var/lib/sentinel
VOLUME ["/var/lib/sentinel"]
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/sentinel"]
CMD ["run", "--config", "/etc/sentinel/sentinel.yaml"]

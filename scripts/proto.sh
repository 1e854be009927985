#!/usr/bin/env bash
# Regenerates the Go code of the public wire packages from their .proto files:
#   apiproto/api.proto     -> apiproto/api.pb.go,     apiproto/api_grpc.pb.go
#   proxyproto/proxy.proto -> proxyproto/proxy.pb.go, proxyproto/proxy_grpc.pb.go
#
# Needs protoc on PATH (Debian: apt-get install protobuf-compiler). The Go
# plugins are the versions pinned as tools in go.mod (protoc-gen-go,
# protoc-gen-go-grpc), built into a temporary directory put first on PATH, so
# the output does not depend on what is installed globally.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

command -v protoc >/dev/null 2>&1 ||
	die "protoc not found: install it (Debian: apt-get install protobuf-compiler)"

bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT

log "building protoc plugins (versions from go.mod)"
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
export PATH="$bin:$PATH"

for pkg in apiproto proxyproto; do
	log "protoc $pkg ($(protoc --version))"
	protoc \
		--proto_path="$pkg" \
		--go_out="$pkg" --go_opt=paths=source_relative \
		--go-grpc_out="$pkg" --go-grpc_opt=paths=source_relative \
		"$pkg"/*.proto
done

#!/usr/bin/env bash
# Static checks: gofmt, go vet, grep rules, and golangci-lint (.golangci.yml)
# when it is installed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

status=0

log "gofmt"
check_gofmt || status=1

log "go vet ./..."
go vet ./... || status=1

log "grep rules"
# Production code uses `any`, never interface{} (generated code excepted).
if hits="$(go_files | grep -v '\.pb\.go$' | xargs grep -n 'interface{}' 2>/dev/null)"; then
	echo "use any instead of interface{}:" >&2
	echo "$hits" | sed "s|^$root/|  |" >&2
	status=1
fi
# time.After leaks a timer until it fires: production code uses time.NewTimer.
if hits="$(go_files | grep -v '_test\.go$' | grep -v '/internal/testutil/' | xargs grep -n 'time\.After(' 2>/dev/null)"; then
	echo "use time.NewTimer (and Stop it) instead of time.After in production code:" >&2
	echo "$hits" | sed "s|^$root/|  |" >&2
	status=1
fi

if command -v golangci-lint >/dev/null 2>&1; then
	log "golangci-lint run ($(golangci-lint version --short 2>/dev/null || echo unknown version))"
	golangci-lint run ./... || status=1
else
	log "golangci-lint is not installed: its checks were not run (install: go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0)"
fi

exit $status

#!/usr/bin/env bash
# Runs the benchmarks of the module with allocation counts.
# BENCH_PKGS selects packages (default ./...); extra arguments are go test
# flags (e.g. -count=5 for benchstat, -bench=Broadcast).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

read -r -a pkgs <<<"${BENCH_PKGS:-./...}"
go test -run '^$' -bench . -benchmem "${pkgs[@]}" "$@"

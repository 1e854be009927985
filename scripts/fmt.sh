#!/usr/bin/env bash
# Formats every Go file of the repository with gofmt.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

go_files | xargs --no-run-if-empty gofmt -w

#!/usr/bin/env bash
# Tests the ticket-booking demo (examples/ticketbooking, its own Go module):
# dependencies, its go.mod in step with the main module, the page's bundle
# (esbuild), gofmt, go vet, then every test
# of the module, among them the browser test (Rotor + the demo + nginx +
# headless Chromium), which writes its screenshots to
# examples/ticketbooking/testdata/out/. Every step runs even when an earlier
# one failed; a summary lists each step's outcome, and the script exits
# non-zero if any failed. Missing tools fail the tests, never skip them.
#
# Environment:
#   GO_TEST_FLAGS  extra flags for go test (e.g. -v, -run TestBrowser)
#   TEST_TIMEOUT   go test -timeout (default 5m)
#   TEST_RACE      1 runs the tests with -race (default: TEST_RACE_ALL). Slower
#                  to build: the SQLite driver is large (about a minute more on
#                  2 cores until the build cache has it).
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

demo=examples/ticketbooking
timeout="${TEST_TIMEOUT:-5m}"
read -r -a extra <<<"${GO_TEST_FLAGS:-}"
race=()
[[ "${TEST_RACE:-${TEST_RACE_ALL:-0}}" == 1 ]] && race=(-race)

names=()
results=()
started=$SECONDS

# step NAME CMD... runs one step and records its outcome.
step() {
	local name=$1 t0=$SECONDS rc
	shift
	log "$name"
	"$@"
	rc=$?
	names+=("$name")
	if [[ $rc -eq 0 ]]; then
		results+=("${green}ok${reset}    $((SECONDS - t0))s")
	else
		results+=("${red}FAIL${reset}  $((SECONDS - t0))s (exit $rc)")
	fi
	return 0
}

# demo_gofmt fails listing the demo's Go files gofmt would change.
demo_gofmt() {
	local unformatted
	unformatted="$(find "$demo" -name '*.go' -not -path '*/node_modules/*' -print0 | xargs -0 gofmt -l)"
	if [[ -n "$unformatted" ]]; then
		echo "gofmt: these files are not formatted (run \`make fmt\`):" >&2
		echo "$unformatted" | sed 's|^|  |' >&2
		return 1
	fi
}

# demo_tidy keeps the demo module's go.mod and go.sum in step with the main
# module it replaces: when the main module's requirements change, the demo
# needs their checksums too. It updates them (say so, to be committed)
# rather than failing.
demo_tidy() {
	(cd "$demo" && go mod tidy -diff >/dev/null 2>&1) && return 0
	log "$demo/go.mod or go.sum is out of step with the main module: running go mod tidy there (commit the change)"
	(cd "$demo" && go mod tidy)
}

step "deps (scripts/deps.sh)" scripts/deps.sh
step "go mod tidy ($demo, when out of step)" demo_tidy
step "bundle the page (esbuild)" bash -c "cd $demo/web && node build.mjs"
step "gofmt ($demo)" demo_gofmt
step "go vet ($demo)" bash -c "cd $demo && go vet ./..."
step "go test${race:+ ${race[*]}} ($demo: services, storage, browser through nginx)" \
	bash -c 'cd "$1" && shift && go test "$@"' _ "$demo" "${race[@]}" -count=1 -timeout "$timeout" "${extra[@]}" ./...

echo
echo "${bold}Demo summary ($((SECONDS - started))s)${reset}"
failed=0
for i in "${!names[@]}"; do
	printf '  %-60s %s\n' "${names[$i]}" "${results[$i]}"
	[[ "${results[$i]}" == *FAIL* ]] && failed=1
done
echo "  screenshots: $demo/testdata/out/"
if ((failed)); then
	echo "${red}${bold}DEMO TESTS FAILED${reset}"
	exit 1
fi
echo "${green}${bold}DEMO TESTS PASSED${reset}"

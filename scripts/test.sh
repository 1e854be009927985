#!/usr/bin/env bash
# Runs the whole test suite: dependencies, formatting, vet, the core packages
# under the race detector, then every other package, a short fuzz run of the
# client command path, and the upstream centrifuge-go suite against Rotor on
# localhost:8000 (compat/centrifugego/run.sh), the SDK against a real
# Centrifugo v6.9.1 built from the Go module proxy (compat/centrifugo/run.sh,
# built once into a cache directory), and the ticket-booking demo's
# tests including its browser test through nginx. Every step runs even when an
# earlier one failed; a summary at the end lists each step's outcome and the
# script exits non-zero if any failed.
#
# Environment:
#   GO_TEST_FLAGS  extra flags for every go test run (e.g. -v)
#   TEST_TIMEOUT   go test -timeout (default 5m)
#   TEST_RACE_ALL  1 runs every package with -race, not only the core ones
#   FUZZ_TIME      how long the fuzz step runs (default 10s)
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

timeout="${TEST_TIMEOUT:-5m}"
read -r -a extra <<<"${GO_TEST_FLAGS:-}"

# Packages tested with -race: the concurrent core.
race_dirs=(internal/node internal/config internal/auth internal/api internal/transport internal/broker)

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

# note records a line in the summary that is not a step (e.g. a package not
# written yet), so that nothing is left out silently.
note() {
	names+=("$1")
	results+=("$2")
	log "$1: $2"
}

race_pkgs=()
for d in "${race_dirs[@]}"; do
	if [[ -d "$d" ]]; then
		race_pkgs+=("./$d/...")
	else
		note "race: $d" "not tested: the package does not exist yet"
	fi
done

# other_pkgs lists every package of the module outside race_dirs.
other_pkgs() {
	local pattern
	pattern="^github.com/rotorhq/rotor/($(IFS='|'; echo "${race_dirs[*]}"))(/|\$)"
	go list ./... | grep -Ev "$pattern"
}

step "deps (scripts/deps.sh)" scripts/deps.sh
step "gofmt" check_gofmt
step "go vet ./..." go vet ./...
if ((${#race_pkgs[@]} > 0)); then
	step "go test -race (core: ${race_pkgs[*]//.\/internal\//})" go test -race -count=1 -timeout "$timeout" "${extra[@]}" "${race_pkgs[@]}"
fi
mapfile -t rest < <(other_pkgs)
rest_race=()
rest_label="go test"
if [[ "${TEST_RACE_ALL:-0}" == 1 ]]; then
	rest_race=(-race)
	rest_label="go test -race"
fi
if ((${#rest[@]} > 0)); then
	step "$rest_label (${#rest[@]} other packages)" go test "${rest_race[@]}" -count=1 -timeout "$timeout" "${extra[@]}" "${rest[@]}"
else
	note "go test (other packages)" "${red}FAIL${reset}  go list found no packages"
fi

fuzz_time="${FUZZ_TIME:-10s}"
step "fuzz FuzzHandleFrame ($fuzz_time)" go test -run '^$' -fuzz '^FuzzHandleFrame$' -fuzztime "$fuzz_time" ./internal/node/
step "centrifuge-go v0.12.1 upstream suite (compat/centrifugego)" compat/centrifugego/run.sh
step "Centrifugo v6.9.1 compat: rotorapi + rotorproxy (compat/centrifugo)" compat/centrifugo/run.sh
step "ticket-booking demo (scripts/test_demo.sh)" scripts/test_demo.sh

echo
echo "${bold}Summary ($((SECONDS - started))s)${reset}"
failed=0
for i in "${!names[@]}"; do
	printf '  %-60s %s\n' "${names[$i]}" "${results[$i]}"
	[[ "${results[$i]}" == *FAIL* ]] && failed=1
done
if ((failed)); then
	echo "${red}${bold}TESTS FAILED${reset}"
	exit 1
fi
echo "${green}${bold}ALL PASSED${reset}"

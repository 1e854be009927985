#!/usr/bin/env bash
# Benchmarks: the Go micro-benchmarks of the hot paths (with allocation
# counts), then a short `rotor bench` run of each scenario against a fresh
# rotor process (dev/bench.json), and a table of the results.
#
# BENCH_PKGS selects the micro-benchmark packages (default ./...); extra
# arguments are go test flags (e.g. -count=5 for benchstat). BENCH_SCALE
# multiplies connection counts (default 1: 2,000 idle connections, 1,000
# subscribers). SKIP_MICRO=1 or SKIP_LOAD=1 leaves a part out.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

scale="${BENCH_SCALE:-1}"
out="$(mktemp -d)"
trap 'rm -rf "$out"; [[ -n "${server_pid:-}" ]] && kill "$server_pid" 2>/dev/null || true' EXIT

if [[ "${SKIP_MICRO:-}" != 1 ]]; then
	log "micro-benchmarks"
	read -r -a pkgs <<<"${BENCH_PKGS:-./...}"
	go test -run '^$' -bench . -benchmem "${pkgs[@]}" "$@" | tee "$out/micro.txt"
fi

[[ "${SKIP_LOAD:-}" == 1 ]] && exit 0

log "building bin/rotor"
go build -o bin/rotor ./cmd/rotor

cfg=dev/bench.json
url="ws://127.0.0.1:18000/connection/websocket"
secret="bench-only-secret"
key="bench-only-key"

# On machines with two or more processors the burst scenario runs the server
# on processor 0 and the load tool on processor 1 (taskset), as the
# published figures do; elsewhere both share what there is.
server_cpus=()
load_cpus=()

start_server() {
	"${server_cpus[@]}" ./bin/rotor serve -c "${CFG:-$cfg}" >"$out/server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		curl -fsS http://127.0.0.1:18000/health >/dev/null 2>&1 && return 0
		kill -0 "$server_pid" 2>/dev/null || die "rotor did not start: $(cat "$out/server.log")"
		sleep 0.1
	done
	die "rotor did not answer /health within 10s"
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

# How connections authenticate: a token signed with the server's secret,
# or (connect-proxy) no token and a connect proxy served by the load tool.
auth=(--token-secret "$secret")

# run NAME FLAGS...: one scenario against a fresh server (configured by
# $CFG when set, else $cfg).
run() {
	local name=$1
	shift
	start_server
	log "rotor bench $name $*"
	"${load_cpus[@]}" ./bin/rotor bench --url "$url" --api-key "$key" "${auth[@]}" --pid "$server_pid" "$@" |
		tee "$out/$name.json"
	stop_server
}

run connect --scenario connect --connections $((2000 * scale))
# The same with each connect decided by the application backend over gRPC
# (dev/bench-connect-proxy.json points proxy_connect_endpoint at it).
auth=(--connect-proxy grpc://127.0.0.1:18100)
CFG=dev/bench-connect-proxy.json run connect-proxy --scenario connect --connections $((2000 * scale))
auth=(--token-secret "$secret")
run idle --scenario idle --connections $((2000 * scale)) --duration 15s
# Publish calls come from a child process, as from an application backend:
# in the load tool's own process they wait behind its subscriber readers.
run fanout --scenario fanout --connections $((1000 * scale)) --rate 100 --duration 10s --publisher-process
# The same with client_write_delay: fewer, larger writes for some latency.
CFG=dev/bench-write-delay.json run fanout-delay20ms --scenario fanout --connections $((1000 * scale)) --rate 100 --duration 10s --publisher-process
run channels --scenario channels --connections $((5000 * scale)) --channels $((1000 * scale)) --rate 1000 --duration 10s --publisher-process
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
	server_cpus=(taskset -c 0)
	load_cpus=(taskset -c 1)
fi
run burst --scenario burst --connections $((1000 * scale)) --duration 5s
server_cpus=()
load_cpus=()

log "results"
go run ./scripts/benchtable "$out"/*.json

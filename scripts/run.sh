#!/usr/bin/env bash
# Starts Rotor and the ticket-booking demo together on their usual ports and
# prints the URL to open; Ctrl-C (or either one exiting) stops both.
#
#   Rotor   ws://localhost:8000/connection/websocket, gRPC API 127.0.0.1:10000
#           (config: dev/ticketbooking.json)
#   demo    http://localhost:8080 (page, REST API, /connection/ passed on to
#           Rotor), proxy 127.0.0.1:10001,
#           database examples/ticketbooking/data/ticketbooking.db
#
# Environment:
#   ROTOR_DEMO_CONFIG             Rotor config (default dev/ticketbooking.json)
#   TICKETBOOKING_RESERVATION_TTL and the demo's other TICKETBOOKING_* settings
#                                 (see examples/ticketbooking/README.md)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

cfg="${ROTOR_DEMO_CONFIG:-dev/ticketbooking.json}"
demo_dir=examples/ticketbooking
web_dir=$demo_dir/web

# busy PORT succeeds when something listens on 127.0.0.1:PORT.
busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 8000 8080 10000 10001; do
	if busy "$port"; then
		die "port $port is in use (Rotor uses 8000 and 10000, the demo 8080 and 10001): stop what listens there"
	fi
done

command -v node >/dev/null 2>&1 || die "node is missing: run \`make deps\` (the page is bundled with esbuild from npm)"
if [[ ! -f $web_dir/node_modules/esbuild/package.json || ! -f $web_dir/node_modules/centrifuge/package.json ]]; then
	log "npm ci in $web_dir"
	(cd "$web_dir" && npm ci --ignore-scripts --no-audit --no-fund) || die "npm ci in $web_dir failed"
fi
log "bundling the page (esbuild)"
(cd "$web_dir" && node build.mjs) || die "bundling the page failed"

log "building bin/rotor and bin/ticketbooking"
version="${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}"
go build -ldflags "-X github.com/rotorhq/rotor/internal/node.Version=$version" -o bin/rotor ./cmd/rotor
(cd "$demo_dir" && go build -o ../../bin/ticketbooking .)
mkdir -p "$demo_dir/data"

pids=()
stop() {
	trap - INT TERM EXIT
	if ((${#pids[@]} > 0)); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

./bin/rotor serve -c "$cfg" &
pids+=($!)
# -rotor: the demo passes the page's /connection/ requests on to Rotor, so
# that the page has one origin, as behind nginx.
./bin/ticketbooking -db "$demo_dir/data/ticketbooking.db" -rotor http://127.0.0.1:8000 &
pids+=($!)

# Wait until both answer, then say where to go.
for _ in $(seq 1 100); do
	if busy 8080 && busy 8000; then
		echo
		log "Ticket booking demo: open http://localhost:8080/  (Ctrl-C stops Rotor and the demo)"
		log "Behind nginx: examples/ticketbooking/nginx.conf serves it on http://localhost:8088/"
		echo
		break
	fi
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || die "a process exited during start-up (see its log above)"
	done
	sleep 0.1
done

# Either one exiting stops the other.
set +e
wait -n "${pids[@]}"
rc=$?
exit "$rc"

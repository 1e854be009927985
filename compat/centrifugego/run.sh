#!/usr/bin/env bash
# Runs the upstream test suite of centrifuge-go (v0.12.1, the version go.mod
# requires; the module ships its _test.go files) against Rotor: it builds
# Rotor with the race detector, starts it on localhost:8000 with config.json
# (the settings of the suite's docker-compose.yml: client_insecure, history
# 100 / 300s, force_recovery and fossil delta on channels without namespace,
# namespace "smallhistory" with history size 2; presence stays off, so
# presence on channel "test" answers 108), runs
# `go test github.com/centrifugal/centrifuge-go` (less the tests that use the
# library's own fake server, see below), and stops Rotor.
#
# The suite's addresses are fixed: port 8000 must be free for Rotor, and port
# 9000 must be closed (TestConnectWrongAddress and the reconnect stress tests
# dial it and expect a refused connection).
#
# Environment:
#   CENTRIFUGEGO_TEST_FLAGS  flags for go test (default: -race)
#   GO_TEST_FLAGS            extra flags appended (e.g. -v)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root" || exit 1

suite=github.com/centrifugal/centrifuge-go
read -r -a flags <<<"${CENTRIFUGEGO_TEST_FLAGS:--race}"
read -r -a extra <<<"${GO_TEST_FLAGS:-}"

fail() {
	echo "centrifuge-go suite: $*" >&2
	exit 1
}

# listening reports whether something accepts TCP connections on localhost:port
# (IPv4 or IPv6, as the suite dials "localhost").
listening() {
	local port=$1 host
	for host in 127.0.0.1 ::1; do
		if timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
			return 0
		fi
	done
	return 1
}

if listening 8000; then
	fail "port 8000 is already in use (a development server?). The suite only talks to localhost:8000: stop whatever listens there and run again."
fi
if listening 9000; then
	fail "port 9000 is open. The suite's bad-address tests (TestConnectWrongAddress, TestStress_*CloseWhileReconnecting) need a refused connection on localhost:9000: stop whatever listens there and run again."
fi

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -race -o "$tmp/rotor" ./cmd/rotor || fail "building rotor failed"
"$tmp/rotor" serve -c "$here/config.json" >"$tmp/rotor.log" 2>&1 &
server_pid=$!

for _ in $(seq 100); do
	listening 8000 && break
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
if ! kill -0 "$server_pid" 2>/dev/null || ! listening 8000; then
	cat "$tmp/rotor.log" >&2
	fail "rotor did not start on localhost:8000"
fi

# Tests of the suite that talk to the library's own FakeServer, not to a
# server at localhost:8000, say nothing about Rotor and are left out: one of
# them (TestCompactionSameIDReRegisteredAfterReconnect) failed once with a
# data race inside the library, with Rotor not involved.
fake_server_tests='^(TestCompactionFlagOfferedAndPushesRoutedByID|TestCompactionUnknownIDDropped|TestCompactionIDDroppedOnUnsubscribeRefreshedOnResubscribe|TestCompactionSameIDReRegisteredAfterReconnect|TestStaleSubscribeReplyDiscarded|TestSubscribeRequestCarriesTagsFilter|TestSetTagsFilterAppliesOnSubscribe|TestSubscribeWithoutFilterSendsNoTf|TestInvalidateStateClearsTokenAndDeltaBase|TestInvalidateConnectionStateClearsTokenAndAllSubs|TestUnsubscribe2502InvalidatesAndResubscribes|TestUnsubscribeBelow2500DoesNotInvalidate)$'

go test -count=1 -skip "$fake_server_tests" "${flags[@]}" "${extra[@]}" "$suite"
rc=$?

kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=""
if grep -q "WARNING: DATA RACE" "$tmp/rotor.log"; then
	echo "centrifuge-go suite: the race detector found a data race in rotor:" >&2
	sed -n '/WARNING: DATA RACE/,/^==================$/p' "$tmp/rotor.log" >&2
	rc=1
fi
if ((rc != 0)); then
	echo "centrifuge-go suite: failed; the end of rotor's log:" >&2
	tail -n 50 "$tmp/rotor.log" >&2
fi
exit "$rc"

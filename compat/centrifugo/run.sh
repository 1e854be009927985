#!/usr/bin/env bash
# Runs the tests of compat/centrifugo (build tag centrifugo) against a real
# Centrifugo v6.9.1: rotorapi over the gRPC and the HTTP server API, and
# rotorproxy as Centrifugo's proxy backend over gRPC and HTTP.
#
# The binary is built once with `go install` from the Go module proxy (about
# three minutes) into a cache directory and reused afterwards. Centrifugo
# starts on free loopback ports with a v6 configuration generated in a
# temporary directory; the tests find the addresses and keys in the
# COMPAT_CENTRIFUGO_* variables below, and serve the proxy backend on the two
# loopback addresses the configuration points at.
#
# Environment:
#   COMPAT_CENTRIFUGO_BIN        an existing Centrifugo v6 binary to use instead
#   COMPAT_CENTRIFUGO_CACHE_DIR  where the built binary is kept (default:
#                                ${XDG_CACHE_HOME:-$HOME/.cache}/rotor/centrifugo-v6.9.1)
#   COMPAT_CENTRIFUGO_TEST_FLAGS flags for go test (default: -race)
#   GO_TEST_FLAGS                extra flags appended (e.g. -v)
#
# (The variables start with COMPAT_ because Centrifugo reads, and warns
# about, every CENTRIFUGO_* variable of its environment.)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root" || exit 1

version=v6.9.1
read -r -a flags <<<"${COMPAT_CENTRIFUGO_TEST_FLAGS:--race}"
read -r -a extra <<<"${GO_TEST_FLAGS:-}"

fail() {
	echo "centrifugo compat: $*" >&2
	exit 1
}

bin="${COMPAT_CENTRIFUGO_BIN:-}"
if [[ -z "$bin" ]]; then
	cache="${COMPAT_CENTRIFUGO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rotor/centrifugo-$version}"
	bin="$cache/centrifugo"
	if [[ ! -x "$bin" ]]; then
		echo "centrifugo compat: building Centrifugo $version into $cache (once; takes a few minutes)" >&2
		mkdir -p "$cache" || fail "cannot create $cache"
		# Outside the module, so that its go.mod is not consulted.
		(cd "$cache" && GOFLAGS= GOWORK=off GOBIN="$cache" go install "github.com/centrifugal/centrifugo/v6@$version") ||
			fail "building Centrifugo $version failed"
	fi
fi
[[ -x "$bin" ]] || fail "$bin is not an executable"

# listening reports whether something accepts TCP connections on 127.0.0.1:port.
listening() {
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# free_port sets port to a loopback port nothing listens on, not picked
# before.
picked=" "
port=""
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		if [[ "$picked" != *" $p "* ]] && ! listening "$p"; then
			picked+="$p "
			port=$p
			return 0
		fi
	done
	fail "found no free loopback port"
}

free_port && http_port=$port
free_port && grpc_port=$port
free_port && proxy_grpc_port=$port
free_port && proxy_http_port=$port
http_key="http-key-$RANDOM$RANDOM"
grpc_key="grpc-key-$RANDOM$RANDOM"

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

# Channels without namespace: presence and history, subscribe for every
# client, no proxy (the server API tests). Namespace "px": subscribe and
# publish through the default proxy (gRPC); namespace "hx": through the
# named proxies http_subscribe and http_publish (HTTP). RPCs without
# namespace go to the gRPC backend, those of namespace "hx" to the HTTP one
# (http_rpc). Connect and refresh: gRPC. A named proxy has one endpoint for
# every request type that uses it, and rotorproxy's HTTP handler tells the
# type by the last element of the path: hence one named proxy per type.
proxy_grpc="grpc://127.0.0.1:$proxy_grpc_port"
proxy_http="http://127.0.0.1:$proxy_http_port/centrifugo"
cat >"$tmp/config.json" <<JSON
{
  "log": {"level": "info"},
  "http_server": {"address": "127.0.0.1", "port": $http_port},
  "http_api": {"key": "$http_key"},
  "grpc_api": {"enabled": true, "address": "127.0.0.1", "port": $grpc_port, "key": "$grpc_key"},
  "client": {
    "allowed_origins": ["http://localhost"],
    "token": {"hmac_secret_key": "compat-secret-$RANDOM$RANDOM"},
    "proxy": {
      "connect": {"enabled": true, "endpoint": "$proxy_grpc", "timeout": "3s", "http_headers": ["X-Trace"]},
      "refresh": {"enabled": true, "endpoint": "$proxy_grpc", "timeout": "3s"}
    }
  },
  "proxies": [
    {"name": "http_subscribe", "endpoint": "$proxy_http/subscribe", "timeout": "3s"},
    {"name": "http_publish", "endpoint": "$proxy_http/publish", "timeout": "3s"},
    {"name": "http_rpc", "endpoint": "$proxy_http/rpc", "timeout": "3s"}
  ],
  "channel": {
    "proxy": {
      "subscribe": {"endpoint": "$proxy_grpc", "timeout": "3s"},
      "publish": {"endpoint": "$proxy_grpc", "timeout": "3s"}
    },
    "without_namespace": {
      "presence": true,
      "history_size": 10,
      "history_ttl": "300s",
      "allow_subscribe_for_client": true
    },
    "namespaces": [
      {"name": "px", "subscribe_proxy_enabled": true, "publish_proxy_enabled": true},
      {"name": "hx", "subscribe_proxy_enabled": true, "subscribe_proxy_name": "http_subscribe",
       "publish_proxy_enabled": true, "publish_proxy_name": "http_publish"}
    ]
  },
  "rpc": {
    "proxy": {"endpoint": "$proxy_grpc", "timeout": "3s"},
    "without_namespace": {"proxy_enabled": true},
    "namespaces": [{"name": "hx", "proxy_enabled": true, "proxy_name": "http_rpc"}]
  }
}
JSON

"$bin" checkconfig -c "$tmp/config.json" >"$tmp/checkconfig.log" 2>&1 || {
	cat "$tmp/checkconfig.log" >&2
	fail "Centrifugo refused the generated configuration"
}

"$bin" -c "$tmp/config.json" >"$tmp/centrifugo.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	listening "$http_port" && listening "$grpc_port" && break
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
if ! kill -0 "$server_pid" 2>/dev/null || ! listening "$http_port" || ! listening "$grpc_port"; then
	cat "$tmp/centrifugo.log" >&2
	fail "Centrifugo did not start on 127.0.0.1:$http_port and :$grpc_port"
fi

COMPAT_CENTRIFUGO_HTTP_API="http://127.0.0.1:$http_port" \
	COMPAT_CENTRIFUGO_HTTP_API_KEY="$http_key" \
	COMPAT_CENTRIFUGO_GRPC_API="127.0.0.1:$grpc_port" \
	COMPAT_CENTRIFUGO_GRPC_API_KEY="$grpc_key" \
	COMPAT_CENTRIFUGO_WS_URL="ws://127.0.0.1:$http_port/connection/websocket" \
	COMPAT_CENTRIFUGO_PROXY_GRPC_ADDR="127.0.0.1:$proxy_grpc_port" \
	COMPAT_CENTRIFUGO_PROXY_HTTP_ADDR="127.0.0.1:$proxy_http_port" \
	go test -tags centrifugo -count=1 -timeout 120s "${flags[@]}" "${extra[@]}" ./compat/centrifugo/
rc=$?

if ((rc != 0)); then
	echo "centrifugo compat: failed; the end of Centrifugo's log:" >&2
	tail -n 50 "$tmp/centrifugo.log" >&2
fi
exit "$rc"

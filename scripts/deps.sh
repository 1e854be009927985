#!/usr/bin/env bash
# Installs what the tests need and fails loudly when something cannot be
# installed. Safe to run repeatedly: it installs only what is missing.
#
# Each system dependency is one need_apt line: the command that must exist and
# the Debian packages that provide it. apt-get update runs at most once, and
# only when something is missing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

export DEBIAN_FRONTEND=noninteractive

apt_updated=0

# as_root runs a command as root, through sudo when needed.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@" || die "sudo $* failed (passwordless sudo is needed to install packages)"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# need_apt CMD PKG... makes sure CMD is on PATH, installing PKG... with apt-get
# when it is not.
need_apt() {
	local cmd=$1
	shift
	if command -v "$cmd" >/dev/null 2>&1; then
		return 0
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "$cmd is missing and apt-get is not available: install $* by hand"
	if [[ $apt_updated -eq 0 ]]; then
		log "apt-get update"
		as_root apt-get update -q || die "apt-get update failed"
		apt_updated=1
	fi
	log "installing $* (for $cmd)"
	as_root apt-get install -y -q --no-install-recommends "$@" || die "apt-get install $* failed"
	command -v "$cmd" >/dev/null 2>&1 || die "installed $* but $cmd is still not on PATH"
}

# System dependencies, one line each.
need_apt gcc gcc libc6-dev # cgo, needed by go test -race
need_apt node nodejs       # centrifuge-js end-to-end tests
need_apt npm npm
need_apt redis-server redis-server     # Redis engine tests (standalone, shards, cluster)
need_apt redis-sentinel redis-sentinel # Redis engine tests behind Sentinel
need_apt nats-server nats-server       # NATS broker tests
need_apt nginx nginx                   # ticket-booking demo: browser test through nginx
need_apt chromium chromium             # ticket-booking demo: headless browser test
# Later: need_apt protoc protobuf-compiler

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 18)); then
	die "Node.js $(node --version) is too old: the JS tests need Node 18 or newer (20 recommended)"
fi

# JS test dependencies, exactly as locked. The stamp records the lock file the
# installed tree came from, so an unchanged tree is not reinstalled.
js="$root/tests/js"
stamp="$js/node_modules/.deps-stamp"
want="$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	log "tests/js dependencies up to date"
else
	log "npm ci in tests/js"
	(cd "$js" && npm ci --ignore-scripts --no-audit --no-fund) || die "npm ci in tests/js failed"
	echo "$want" >"$stamp"
fi

for mod in centrifuge ws; do
	[[ -f "$js/node_modules/$mod/package.json" ]] || die "tests/js/node_modules/$mod is missing after npm ci"
done
# The ticket-booking demo's npm packages, exactly as locked (same stamp as
# above): esbuild bundles its page with centrifuge, playwright-core drives
# Chromium in its browser test.
demo_web="$root/examples/ticketbooking/web"
demo_stamp="$demo_web/node_modules/.deps-stamp"
demo_want="$(sha256sum "$demo_web/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$demo_stamp" && "$(cat "$demo_stamp")" == "$demo_want" ]]; then
	log "examples/ticketbooking/web dependencies up to date"
else
	log "npm ci in examples/ticketbooking/web"
	(cd "$demo_web" && npm ci --ignore-scripts --no-audit --no-fund) || die "npm ci in examples/ticketbooking/web failed"
	echo "$demo_want" >"$demo_stamp"
fi
for mod in centrifuge esbuild playwright-core; do
	[[ -f "$demo_web/node_modules/$mod/package.json" ]] ||
		die "examples/ticketbooking/web/node_modules/$mod is missing after npm ci"
done

log "dependencies ready: $(go version | cut -d' ' -f3), node $(node --version), npm $(npm --version)"

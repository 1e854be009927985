# Shared helpers of the scripts in this directory; source it, do not run it.
# shellcheck shell=bash

# root is the repository root; scripts cd there first.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Colours only on a terminal.
if [[ -t 1 ]]; then
	bold=$'\e[1m' red=$'\e[31m' green=$'\e[32m' reset=$'\e[0m'
else
	bold='' red='' green='' reset=''
fi

log() { printf '%s==> %s%s\n' "$bold" "$*" "$reset"; }
die() {
	printf '%sERROR: %s%s\n' "$red" "$*" "$reset" >&2
	exit 1
}

# go_files lists the Go files of the repository (tracked or not), without
# anything under node_modules or .git.
go_files() {
	find "$root" -name '*.go' -not -path '*/node_modules/*' -not -path '*/.git/*' -print | sort
}

# check_gofmt fails listing the Go files gofmt would change.
check_gofmt() {
	local files unformatted
	files="$(go_files)"
	[[ -z "$files" ]] && return 0
	# shellcheck disable=SC2086
	unformatted="$(gofmt -l $files)"
	if [[ -n "$unformatted" ]]; then
		echo "gofmt: these files are not formatted (run \`make fmt\`):" >&2
		echo "$unformatted" | sed "s|^$root/|  |" >&2
		return 1
	fi
}

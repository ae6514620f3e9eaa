#!/usr/bin/env bats
# install/install.sh against a fake root with stand-in node and Danube tarballs (no network, no real /usr/local).

# Debian's bats ships without bats-assert (a separate package the test set-up does not install): the three
# assertions used here, each printing what it saw when it fails.
assert_success() {
	[ "$status" -eq 0 ] || { printf 'expected success, got %s\n%s\n' "$status" "$output" >&2; return 1; }
}
assert_failure() {
	[ "$status" -eq "${1:-1}" ] || { printf 'expected status %s, got %s\n%s\n' "${1:-1}" "$status" "$output" >&2; return 1; }
}
assert_output() {
	if [ "$1" = --partial ]; then
		case "$output" in *"$2"*) return 0 ;; esac
		printf 'expected output to contain: %s\ngot:\n%s\n' "$2" "$output" >&2
		return 1
	fi
	[ "$output" = "$1" ] || { printf 'expected output: %s\ngot:\n%s\n' "$1" "$output" >&2; return 1; }
}

SCRIPT="$BATS_TEST_DIRNAME/../../install/install.sh"

# A tarball whose bin/node answers like Node MAJOR and records every other call in $CALLS.
make_node_tarball() {
	major=$1 layout=$2 out=$3
	dir=$(mktemp -d "$BATS_TEST_TMPDIR/node.XXXXXX")
	mkdir -p "$dir/$layout/bin" "$dir/$layout/include/node"
	cat >"$dir/$layout/bin/node" <<NODE
#!/bin/sh
case "\$1" in
	-p) echo $major ;;
	--version) echo v$major.1.0 ;;
	*) echo "node \$*" >>"\$CALLS" ;;
esac
NODE
	chmod 755 "$dir/$layout/bin/node"
	tar -czf "$out" -C "$dir" "$layout"
}

setup() {
	ROOT="$BATS_TEST_TMPDIR/root"
	mkdir -p "$ROOT/etc" "$ROOT/usr/local/bin"
	printf 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.5 LTS"\n' >"$ROOT/etc/os-release"
	export CALLS="$BATS_TEST_TMPDIR/calls"
	: >"$CALLS"
	make_node_tarball 24 package "$BATS_TEST_TMPDIR/node.tgz"
	app="$BATS_TEST_TMPDIR/app"
	mkdir -p "$app/package/bin" "$app/package/node_modules"
	echo 'console.log("danube")' >"$app/package/bin/run.js"
	tar -czf "$BATS_TEST_TMPDIR/danube.tgz" -C "$app" package
	# Only the tools the script needs: no system node, no sudo.
	export PATH="/usr/bin:/bin"
}

install_offline() {
	run sh "$SCRIPT" --root "$ROOT" --tarball "$BATS_TEST_TMPDIR/danube.tgz" --node-tarball "$BATS_TEST_TMPDIR/node.tgz" "$@"
}

@test "--help prints the usage and exits 0" {
	run sh "$SCRIPT" --help
	assert_success
	assert_output --partial 'Usage: sh install.sh [OPTIONS] [-- DANUBE_INSTALL_ARGS...]'
	assert_output --partial '--node-tarball FILE'
}

@test "an unknown option is a usage error that points to --help" {
	run sh "$SCRIPT" --bogus
	assert_failure 2
	assert_output --partial 'unknown option --bogus'
	assert_output --partial 'Run with --help'
}

@test "refuses an unsupported OS unless --force-os" {
	printf 'ID=fedora\nVERSION_ID=40\n' >"$ROOT/etc/os-release"
	install_offline
	assert_failure 1
	assert_output --partial "fedora 40 isn't supported by this script"
	install_offline --force-os
	assert_success
	assert_output --partial 'continuing because of --force-os'
}

@test "accepts Debian 12 for testing, with a note" {
	printf 'ID=debian\nVERSION_ID="12"\n' >"$ROOT/etc/os-release"
	install_offline
	assert_success
	assert_output --partial 'Debian 12: accepted for testing'
}

@test "refuses an unsupported architecture and accepts arm64" {
	DANUBE_TEST_ARCH=s390x install_offline
	assert_failure 1
	assert_output --partial 'architecture s390x is not supported'
	DANUBE_TEST_ARCH=aarch64 install_offline
	assert_success
}

@test "without root and without sudo it stops before changing anything" {
	DANUBE_TEST_UID=1000 DANUBE_TEST_SUDO=no-sudo-here install_offline
	assert_failure 1
	assert_output --partial 'run as root (or install sudo)'
	[ ! -e "$ROOT/usr/local/lib/danube" ]
}

@test "installs Node and Danube offline, links danube and runs danube install with the remaining arguments" {
	install_offline -- --yes --cilium-cli /opt/cilium
	assert_success
	[ -x "$ROOT/usr/local/lib/danube/node/bin/node" ]
	[ -f "$ROOT/usr/local/lib/danube/app/bin/run.js" ]
	[ -x "$ROOT/usr/local/bin/danube" ]
	run cat "$ROOT/usr/local/bin/danube"
	assert_output --partial 'exec "/usr/local/lib/danube/node/bin/node" "/usr/local/lib/danube/app/bin/run.js" "$@"'
	run cat "$CALLS"
	assert_output "node $ROOT/usr/local/lib/danube/app/bin/run.js install --yes --cilium-cli /opt/cilium --root $ROOT"
}

@test "a second run changes nothing" {
	install_offline
	assert_success
	# Every mtime set far in the past: a file or directory the second run rewrites shows a new one, however soon
	# it runs (no sleep to outlast stat's one-second resolution).
	find "$ROOT" -exec touch -h -d @1000000000 {} +
	before=$(find "$ROOT" -exec stat -c '%n %Y %s %a' {} + | sort)
	install_offline
	assert_success
	assert_output --partial 'already installed'
	after=$(find "$ROOT" -exec stat -c '%n %Y %s %a' {} + | sort)
	[ "$before" = "$after" ]
}

@test "keeps an existing Node >= 22 when no --node-tarball is given" {
	make_node_tarball 22 package "$BATS_TEST_TMPDIR/node22.tgz"
	mkdir -p "$BATS_TEST_TMPDIR/sysnode"
	tar -xzf "$BATS_TEST_TMPDIR/node22.tgz" -C "$BATS_TEST_TMPDIR/sysnode"
	PATH="$BATS_TEST_TMPDIR/sysnode/package/bin:$PATH" run sh "$SCRIPT" --root "$ROOT" --tarball "$BATS_TEST_TMPDIR/danube.tgz"
	assert_success
	assert_output --partial "keeping Node v22.1.0 at $BATS_TEST_TMPDIR/sysnode/package/bin/node"
	[ ! -e "$ROOT/usr/local/lib/danube/node" ]
}

@test "refuses a Node tarball older than 22" {
	make_node_tarball 20 node-v20.20.0-linux-x64 "$BATS_TEST_TMPDIR/node20.tgz"
	run sh "$SCRIPT" --root "$ROOT" --tarball "$BATS_TEST_TMPDIR/danube.tgz" --node-tarball "$BATS_TEST_TMPDIR/node20.tgz"
	assert_failure 1
	assert_output --partial 'the Node tarball holds Node 20; Danube needs >= 22'
}

@test "a Danube download needs its SHA-256, and a wrong one is refused" {
	run sh "$SCRIPT" --root "$ROOT" --node-tarball "$BATS_TEST_TMPDIR/node.tgz"
	assert_failure 1
	assert_output --partial 'a download needs --sha256 HEX'
	install_offline --sha256 "$(printf '0%.0s' $(seq 64))"
	assert_failure 1
	assert_output --partial 'Danube tarball sha256 does not match --sha256'
	install_offline --sha256 "$(sha256sum "$BATS_TEST_TMPDIR/danube.tgz" | cut -d ' ' -f 1)"
	assert_success
}

@test "--dry-run prints the commands and changes nothing" {
	before=$(find "$ROOT" | sort)
	install_offline --dry-run -- --yes
	assert_success
	assert_output --partial "+ tar -xzf $BATS_TEST_TMPDIR/danube.tgz"
	assert_output --partial "+ write $ROOT/usr/local/bin/danube"
	assert_output --partial "+ danube install --yes --root $ROOT --dry-run"
	[ "$before" = "$(find "$ROOT" | sort)" ]
	[ ! -s "$CALLS" ]
}

@test "refuses a tarball that is not a Danube release" {
	mkdir -p "$BATS_TEST_TMPDIR/other/package"
	tar -czf "$BATS_TEST_TMPDIR/other.tgz" -C "$BATS_TEST_TMPDIR/other" package
	run sh "$SCRIPT" --root "$ROOT" --tarball "$BATS_TEST_TMPDIR/other.tgz" --node-tarball "$BATS_TEST_TMPDIR/node.tgz"
	assert_failure 1
	assert_output --partial 'is not a Danube release (no package/bin/run.js)'
}

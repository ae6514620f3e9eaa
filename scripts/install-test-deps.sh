#!/usr/bin/env bash
# Installs the Debian packages the test suite runs for real: git (config-as-code sync), openssl (the
# Kubernetes test API server's CA, key round-trips), jq (provenance verified by hand as docs/provenance.md shows), docker-registry (the registry health probe),
# bubblewrap (the local executor's sandbox), prometheus (promtool and a real server for the telemetry
# tests), shellcheck and bats (install scripts), mandoc (man-page lint), debootstrap and
# systemd-container (a booted Debian 12 for the install system test), systemd (systemd-analyze).
# Servers are never started as services: the tests start them on loopback with their own config.
# Idempotent: does nothing when all are present, so it is cheap on a developer's machine.
set -euo pipefail

packages=(git openssl jq docker-registry bubblewrap prometheus shellcheck bats mandoc debootstrap systemd-container systemd)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing test dependencies: ${missing[*]}" >&2
$sudo apt-get update -qq
# The package's maintainer scripts would start a registry listening on all interfaces; policy-rc.d
# stops any service from being started by the install.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ -n "$created_policy" ] && $sudo rm -f "$policy"
exit 0

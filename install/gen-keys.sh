#!/bin/sh
# Generates Danube's provenance signing key pair with openssl alone, in the formats `danube keys generate` writes:
# provenance.key (Ed25519, PKCS#8 PEM, mode 0600) and provenance.pub (SPKI PEM), in --out DIR (default
# /etc/danube/keys). Refuses to replace an existing key without --force; each file is written under a temporary name
# in DIR and renamed into place. Prints the key id: the hex SHA-256 of the public key's DER.
set -eu

usage() {
  cat <<'USAGE'
usage: gen-keys.sh [--out DIR] [--force] [--owner USER]
  --out DIR     directory for provenance.key and provenance.pub (default /etc/danube/keys)
  --force       replace an existing key pair
  --owner USER  chown both files (and DIR) to USER, the user the agent runs as
USAGE
}

out=/etc/danube/keys
force=0
owner=
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { echo "gen-keys.sh: --out needs a directory" >&2; exit 2; }; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --force) force=1; shift ;;
    --owner) [ $# -ge 2 ] || { echo "gen-keys.sh: --owner needs a user name" >&2; exit 2; }; owner=$2; shift 2 ;;
    --owner=*) owner=${1#--owner=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gen-keys.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "gen-keys.sh: --out needs a directory" >&2; exit 2; }
command -v openssl >/dev/null 2>&1 || { echo "gen-keys.sh: openssl not found; install it (apt-get install openssl)" >&2; exit 1; }

key="$out/provenance.key"
pub="$out/provenance.pub"
if [ "$force" -eq 0 ] && { [ -e "$key" ] || [ -e "$pub" ]; }; then
  echo "gen-keys.sh: $key or $pub already exists; not overwriting" >&2
  echo "hint: pass --force to replace the key pair (provenance signed with the old key then verifies only with the old public key)" >&2
  exit 1
fi

umask 077
mkdir -p "$out"
tmp_key="$out/.provenance.key.$$.tmp"
tmp_pub="$out/.provenance.pub.$$.tmp"
trap 'rm -f "$tmp_key" "$tmp_pub"' EXIT INT TERM
openssl genpkey -algorithm ed25519 -out "$tmp_key" 2>/dev/null
openssl pkey -in "$tmp_key" -pubout -out "$tmp_pub" 2>/dev/null
chmod 600 "$tmp_key"
chmod 644 "$tmp_pub"
if [ -n "$owner" ]; then
  chown "$owner" "$out" "$tmp_key" "$tmp_pub"
fi
# Public key first: a crash between the renames leaves a mismatched pair, which the agent refuses, never half a key.
mv -f "$tmp_pub" "$pub"
mv -f "$tmp_key" "$key"
trap - EXIT INT TERM
key_id=$(openssl pkey -pubin -in "$pub" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
echo "wrote $key (private, 0600) and $pub (public)"
echo "key id $key_id"

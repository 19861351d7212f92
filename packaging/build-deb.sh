#!/usr/bin/env bash
# Builds the hipr Debian package: hipd, hipconf, hip-inspect, their man pages
# (their --help, through help2man), completions, the systemd unit and the
# commented default /etc/hipr/hipd.conf. Needs cargo-deb and help2man.
#   bash packaging/build-deb.sh [--profile dev]   -> target/debian/hipr_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
if [ "${1:-}" = --profile ]; then profile=$2; fi
dir=$profile
[ "$profile" = dev ] && dir=debug
command -v help2man >/dev/null || { echo "build-deb: help2man is not installed" >&2; exit 1; }
cargo deb --version >/dev/null 2>&1 || { echo "build-deb: cargo-deb is not installed (cargo install cargo-deb --locked)" >&2; exit 1; }
cargo build --profile "$profile" -p hipd -p hip-tools --bins
bin="target/$dir"
mkdir -p "$bin/man"
man() { # NAME SECTION DESCRIPTION
  help2man --no-info --section="$2" --name="$3" --version-string="$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"name":"hipd","version":"\([^"]*\)".*/\1/p')" \
    "$bin/$1" | gzip -9n > "$bin/man/$1.$2.gz"
}
man hipd 8 "Host Identity Protocol daemon (RFC 7401, RFC 5201)"
man hipconf 8 "control hipd (HIPL's hipconf syntax)"
man hip-inspect 1 "decode and verify HIP captures"
cargo deb -p hipd --no-build --profile "$profile" --fast

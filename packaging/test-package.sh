#!/usr/bin/env bash
# Package test (issue 16): builds the .deb (dev profile, to reuse the test
# build), installs it with dpkg into a fresh root (its own --instdir and
# --admindir: the machine's own /usr and dpkg database are not touched),
# checks the files, the unit and `hipd --check-config` on the shipped and on
# broken configurations, then removes and purges it: the keys and peers an
# operator made stay. Skips in one line without dpkg, cargo-deb or help2man.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in dpkg help2man; do
  command -v "$t" >/dev/null || { echo "package test: skipped ($t not installed)"; exit 0; }
done
cargo deb --version >/dev/null 2>&1 || { echo "package test: skipped (cargo-deb not installed)"; exit 0; }

log=$(mktemp)
if ! bash packaging/build-deb.sh --profile dev >"$log" 2>&1; then
  cat "$log"; rm -f "$log"; echo "package test: FAILED: build"; exit 1
fi
rm -f "$log"
deb=$(ls -t target/debian/hipr_*.deb | head -1)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
touch "$root/var/lib/dpkg/status"
dp() {
  local out
  out=$(dpkg --instdir="$root" --admindir="$root/var/lib/dpkg" --force-not-root \
    --force-script-chrootless --force-depends "$@" 2>&1) || { echo "$out"; fail "dpkg $*"; }
}
fail() { echo "package test: FAILED: $*"; exit 1; }

dp -i "$deb"
for f in usr/sbin/hipd usr/bin/hipconf usr/bin/hip-inspect etc/hipr/hipd.conf \
  lib/systemd/system/hipd.service usr/share/man/man8/hipd.8.gz usr/share/man/man8/hipconf.8.gz \
  usr/share/man/man1/hip-inspect.1.gz usr/share/bash-completion/completions/hipconf \
  usr/share/bash-completion/completions/hipd usr/share/doc/hipr/copyright; do
  [ -e "$root/$f" ] || fail "$f not installed"
done
grep -qx 'Type=notify' "$root/lib/systemd/system/hipd.service" || fail "unit is not Type=notify"
grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW' "$root/lib/systemd/system/hipd.service" \
  || fail "unit capabilities"
if command -v systemd-analyze >/dev/null; then
  # The unit as installed, its binary path pointed into the fresh root.
  udir=$(mktemp -d -p "$root")
  sed "s#/usr/sbin/hipd#$root/usr/sbin/hipd#g" "$root/lib/systemd/system/hipd.service" > "$udir/hipd.service"
  if ! out=$(systemd-analyze verify --man=no "$udir/hipd.service" 2>&1); then
    fail "systemd-analyze verify: $out"
  fi
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi
zcat "$root/usr/share/man/man8/hipd.8.gz" | grep -q 'check\\-config' || fail "man page lacks --help text"

hipd="$root/usr/sbin/hipd"
conf="$root/etc/hipr"
"$hipd" --check-config --config-dir "$conf" | grep -q "configuration OK" || fail "shipped config refused"
bad=$(mktemp -d -p "$root")
printf 'tun = hip0\nworkers = 0\nudp_encap = maybe\n' > "$bad/hipd.conf"
printf '2001:20::1 127.0.0.1\n' > "$bad/hosts"
if out=$("$hipd" --check-config --config-dir "$bad"); then fail "broken config accepted"; fi
[ "$(wc -l <<<"$out")" = 3 ] || fail "expected one line per problem, got: $out"
grep -q "hipd.conf:2: workers" <<<"$out" || fail "line 2 not named: $out"
grep -q "hipd.conf:3: " <<<"$out" || fail "line 3 not named: $out"
grep -q "hosts line 1" <<<"$out" || fail "hosts line not named: $out"

# What the operator made (keys, peers) survives removal and purge.
mkdir -p "$conf/keys"
echo "key" > "$conf/keys/hi_v2_ecdsa_0.pem"
echo "[]" > "$conf/peers.json"
dp -r hipr
[ ! -e "$root/usr/sbin/hipd" ] || fail "hipd left after dpkg -r"
[ -e "$conf/hipd.conf" ] || fail "conffile removed by dpkg -r (only purge removes it)"
dp -P hipr
[ ! -e "$conf/hipd.conf" ] || fail "conffile left after purge"
[ -e "$conf/keys/hi_v2_ecdsa_0.pem" ] && [ -e "$conf/peers.json" ] || fail "keys or peers removed"
echo "package test: ok ($(basename "$deb"): installed, checked, removed; keys kept)"

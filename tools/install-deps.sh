#!/usr/bin/env bash
# Install what `make demo`, `make check` or `make bench` needs from Debian's
# archive, only when something is missing (a no-op on a machine that has it
# all).
#   demo   a C compiler, cmake and make: the tool and the KVM example only
#   check  + g++ (header test as C++), libc6-dev (the install test links a
#          static program), pkg-config, util-linux (setarch for TSan),
#          groff-base (man-render), libuv, GLib and libevent (the tests
#          of examples/loop-adapters run only when found) and libsystemd
#   bench  the competitors the benchmarks measure
# clang is in none: only the optional libFuzzer target uses it
# (tests/fuzz/; `apt-get install clang` first).
set -euo pipefail
what=${1:-check}
loops=(libuv1-dev libglib2.0-dev libevent-dev libsystemd-dev)
case $what in
demo) pkgs=(cmake gcc make) ;;
check) pkgs=(cmake gcc g++ make libc6-dev pkg-config util-linux groff-base "${loops[@]}") ;;
bench) pkgs=(cmake gcc make pkg-config libev-dev "${loops[@]}") ;;
*) echo "usage: $0 demo|check|bench" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	echo "install-deps: missing packages: ${missing[*]} (need root and apt-get to install them)" >&2
	[ "$what" = bench ] && exit 0 # benchmarks skip competitors they cannot find
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" >/dev/null

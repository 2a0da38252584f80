#!/usr/bin/env bash
# Install what `make check` or `make bench` needs from Debian's archive, only
# when something is missing (a no-op on a machine that has it all).
set -euo pipefail
what=${1:-check}
case $what in
check) pkgs=(cmake gcc g++ make pkg-config util-linux clang) ;;
bench) pkgs=(cmake gcc make pkg-config libuv1-dev libevent-dev libev-dev libsystemd-dev libglib2.0-dev) ;;
*) echo "usage: $0 check|bench" >&2; exit 2 ;;
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

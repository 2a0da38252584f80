#!/usr/bin/env bash
# install-test.sh BUILD_DIR CC - `make install` delivers a usable library:
# install into a scratch prefix, then build and run a program against it
# with nothing but pkg-config, once shared and once static.
set -euo pipefail
build=$1 cc=$2
command -v pkg-config >/dev/null || { echo "pkg-config missing: skipped"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/prefix" >/dev/null
pc=$(find "$dir/prefix" -name vmtime.pc)
[ -n "$pc" ] || { echo "no vmtime.pc installed"; exit 1; }
for f in bin/vmtime include/vmtime/vmtime.h; do
	[ -e "$dir/prefix/$f" ] || { echo "missing $f"; exit 1; }
done
ls "$dir"/prefix/lib*/libvmtime.so* "$dir"/prefix/lib*/libvmtime.a >/dev/null
cat >"$dir/use.c" <<'C'
#include <vmtime/vmtime.h>
#include <stdio.h>
int main(void)
{
	vmt_keeper *k;
	if (vmt_keeper_new(NULL, &k) < 0 || vmt_keeper_start(k) < 0 || vmt_keeper_running(k) != 1)
		return 1;
	vmt_keeper_free(k);
	puts("installed vmtime works");
	return 0;
}
C
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir vmtime)
"$cc" -std=c11 -Wall -Werror "$dir/use.c" $(pkg-config --cflags --libs vmtime) \
	-Wl,-rpath,"$libdir" -o "$dir/use-shared"
"$dir/use-shared"
"$cc" -std=c11 -Wall -Werror "$dir/use.c" $(pkg-config --cflags vmtime) \
	"$libdir/libvmtime.a" $(pkg-config --static --libs-only-other vmtime) -o "$dir/use-static"
"$dir/use-static"
"$dir/prefix/bin/vmtime" --help >/dev/null

#!/usr/bin/env bash
# install-test.sh BUILD_DIR CC - `make install` delivers a usable library.
# Installs into a scratch prefix and checks what is there (libraries,
# headers, tool, vmtime.pc with absolute paths, CMake package, man pages,
# docs), builds and runs a consumer with pkg-config (shared, and fully
# static with --static) and with find_package (vmtime::vmtime and
# vmtime::vmtime_static), checks the package version rules, then installs
# again under DESTDIR and uninstalls both.
set -euo pipefail
build=$(cd "$1" && pwd) cc=$2
src=$(cd "$(dirname "$0")/.." && pwd)
command -v pkg-config >/dev/null || { echo "pkg-config missing: skipped"; exit 77; }
dir=$(mktemp -d)
# The test's installs must not replace the manifest of the user's own
# `make install` (`make uninstall` reads it).
manifest=$build/install_manifest.txt
[ -e "$manifest" ] && cp "$manifest" "$dir/manifest.saved"
restore() {
	if [ -e "$dir/manifest.saved" ]; then cp "$dir/manifest.saved" "$manifest"; else rm -f "$manifest"; fi
	rm -rf "$dir"
}
trap restore EXIT
fail() { echo "FAIL: $*"; exit 1; }

prefix=$dir/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name vmtime.pc)
[ -n "$pc" ] || fail "no vmtime.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in bin/vmtime include/vmtime/vmtime.h include/vmtime/common.h \
	share/man/man1/vmtime.1 share/man/man3/vmt_timer_new.3 share/man/man3/libvmtime.3 \
	share/doc/vmtime/README.md share/doc/vmtime/LICENSE share/doc/vmtime/CHANGELOG.md \
	share/doc/vmtime/docs/errors.md share/doc/vmtime/examples/kvm-pit/README.md; do
	[ -e "$prefix/$f" ] || fail "missing $f"
done
for f in libvmtime.a libvmtime.so cmake/vmtime/vmtimeConfig.cmake cmake/vmtime/vmtimeConfigVersion.cmake; do
	[ -e "$libdir/$f" ] || fail "missing ${libdir#$prefix/}/$f"
done

# vmtime.pc: absolute directories, no path relative to the .pc file.
export PKG_CONFIG_PATH=$libdir/pkgconfig
grep -q '^prefix='"$prefix"'$' "$pc" || fail "vmtime.pc: prefix is not $prefix: $(grep ^prefix= "$pc")"
! grep -q pcfiledir "$pc" || fail "vmtime.pc uses \${pcfiledir}"
[ "$(pkg-config --cflags vmtime | xargs)" = "-I$prefix/include" ] || fail "cflags: $(pkg-config --cflags vmtime)"
[ "$(pkg-config --variable=libdir vmtime)" = "$libdir" ] || fail "libdir: $(pkg-config --variable=libdir vmtime)"
pkg-config --static --libs vmtime | grep -q -- -pthread || fail "--static --libs lacks -pthread"
[ "$(pkg-config --modversion vmtime)" = "$("$build/vmtime" --version | cut -d' ' -f2)" ] ||
	fail "vmtime.pc version differs from vmtime --version"

cat >"$dir/use.c" <<'C'
#include <vmtime/vmtime.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	vmt_keeper *k;
	if (vmt_version() != VMT_VERSION || strcmp(vmt_version_string(), VMT_VERSION_STRING))
		return 2;
	if (vmt_keeper_new(NULL, &k) < 0 || vmt_keeper_start(k) < 0 || vmt_keeper_running(k) != 1)
		return 1;
	vmt_keeper_free(k);
	printf("installed vmtime %s works\n", vmt_version_string());
	return 0;
}
C
needs_libvmtime() { readelf -d "$1" 2>/dev/null | grep -q 'NEEDED.*libvmtime'; }

# pkg-config, shared.
"$cc" -std=c11 -Wall -Werror "$dir/use.c" $(pkg-config --cflags --libs vmtime) \
	-Wl,-rpath,"$libdir" -o "$dir/pc-shared"
"$dir/pc-shared"
needs_libvmtime "$dir/pc-shared" || fail "pc-shared does not use libvmtime.so"
# pkg-config --static: a fully static program links with what the .pc says
# (Libs.private), nothing added by hand.
"$cc" -std=c11 -Wall -Werror -static "$dir/use.c" $(pkg-config --static --cflags --libs vmtime) \
	-o "$dir/pc-static"
"$dir/pc-static"
! needs_libvmtime "$dir/pc-static" || fail "pc-static needs libvmtime.so"

# find_package, shared and static.
mkdir "$dir/cm"
cp "$dir/use.c" "$dir/cm/use.c"
cat >"$dir/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(use C)
find_package(vmtime 0.2 REQUIRED)
add_executable(use-shared use.c)
target_link_libraries(use-shared PRIVATE vmtime::vmtime)
add_executable(use-static use.c)
target_link_libraries(use-static PRIVATE vmtime::vmtime_static)
CM
cmake -S "$dir/cm" -B "$dir/cm/build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_BUILD_RPATH="$libdir" >/dev/null
cmake --build "$dir/cm/build" >/dev/null
"$dir/cm/build/use-shared"
needs_libvmtime "$dir/cm/build/use-shared" || fail "vmtime::vmtime is not the shared library"
"$dir/cm/build/use-static"
! needs_libvmtime "$dir/cm/build/use-static" || fail "vmtime::vmtime_static needs libvmtime.so"

# The version file: while the major is 0, only the same MAJOR.MINOR, an
# equal or newer patch (as find_package(vmtime X) evaluates it).
version=$(pkg-config --modversion vmtime)
IFS=. read -r major minor patch <<<"$version"
check_version() {
	local want=$1 expect=$2 got
	got=$(cmake -DPACKAGE_FIND_VERSION="$want" -DCMAKE_SIZEOF_VOID_P=$(($(getconf LONG_BIT) / 8)) -DFILE="$libdir/cmake/vmtime/vmtimeConfigVersion.cmake" \
		-P "$src/tests/install-version-probe.cmake" 2>&1)
	[ "$got" = "$expect" ] || fail "find_package(vmtime $want) against $version: $got, expected $expect"
}
check_version "$major.$minor" compatible
check_version "$major.$minor.$patch" compatible
check_version "$major.$((minor + 1))" incompatible
[ "$minor" -gt 0 ] && check_version "$major.$((minor - 1))" incompatible
check_version "$((major + 1)).0" incompatible

"$prefix/bin/vmtime" --help >/dev/null
[ "$("$prefix/bin/vmtime" --version)" = "vmtime $version" ] || fail "vmtime --version"

# Uninstall removes every file, and vmtime's own directories.
cmake -DMANIFEST="$manifest" -P "$src/cmake/scripts/uninstall.cmake" >/dev/null
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || fail "left after uninstall: $left"
[ ! -e "$prefix/include/vmtime" ] || fail "include/vmtime left after uninstall"

# DESTDIR: files land under it, vmtime.pc names the real prefix; uninstall
# with the same DESTDIR removes them.
stage=$dir/stage
DESTDIR=$stage cmake --install "$build" --prefix /opt/vmtime-test >/dev/null
spc=$(find "$stage/opt/vmtime-test" -name vmtime.pc)
[ -n "$spc" ] || fail "DESTDIR install: no vmtime.pc under $stage/opt/vmtime-test"
grep -q '^prefix=/opt/vmtime-test$' "$spc" || fail "DESTDIR leaked into vmtime.pc: $(grep ^prefix= "$spc")"
! grep -rq "$stage" "$stage/opt/vmtime-test/lib"*/cmake || fail "DESTDIR leaked into the CMake package"
[ -x "$stage/opt/vmtime-test/bin/vmtime" ] || fail "DESTDIR install: no bin/vmtime"
[ ! -e /opt/vmtime-test ] || fail "DESTDIR install wrote /opt/vmtime-test"
DESTDIR=$stage cmake -DMANIFEST="$manifest" -P "$src/cmake/scripts/uninstall.cmake" >/dev/null
left=$(find "$stage" -type f -o -type l)
[ -z "$left" ] || fail "left after DESTDIR uninstall: $left"
echo "install, pkg-config (shared, static), find_package (shared, static), version file, DESTDIR, uninstall: ok"

#!/usr/bin/env bash
# packager-build.sh SOURCE_DIR BUILD_DIR CC - the switches a distribution
# uses: -DBUILD_TESTING=OFF builds the libraries, the tool and the man
# pages and nothing else; -DVMT_WERROR=OFF drops -Werror (the developers'
# build in BUILD_DIR keeps it); the result installs under DESTDIR.
set -euo pipefail
src=$1 devbuild=$2 cc=$3
fail() { echo "FAIL: $*"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
grep -q -- -Werror "$devbuild/CMakeFiles/vmtime_objs.dir/flags.make" ||
	fail "the default build does not use -Werror"
# Debug: -O0 compiles fastest; what is checked is which targets and flags.
cmake -S "$src" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug -DBUILD_TESTING=OFF \
	-DVMT_WERROR=OFF >/dev/null
! grep -q -- -Werror "$dir/CMakeFiles/vmtime_objs.dir/flags.make" || fail "-DVMT_WERROR=OFF kept -Werror"
cmake --build "$dir" -j 2 >/dev/null
for f in libvmtime.so libvmtime.a vmtime man/man3/vmt_timer_new.3 man/man1/vmtime.1; do
	[ -e "$dir/$f" ] || fail "BUILD_TESTING=OFF did not build $f"
done
extra=$(find "$dir" -maxdepth 2 -type f -perm -u+x ! -name 'vmtime' ! -name '*.so*' ! -name '*.bin' \
	! -path '*/CMakeFiles/*' | sed "s|^$dir/||")
[ -z "$extra" ] || fail "BUILD_TESTING=OFF built more than the library and the tool: $extra"
[ ! -e "$dir/CTestTestfile.cmake" ] || ! grep -q add_test "$dir/CTestTestfile.cmake" ||
	fail "BUILD_TESTING=OFF registered tests"
# What a package's install step does: stage under DESTDIR at prefix /usr.
DESTDIR=$dir/stage cmake --install "$dir" --prefix /usr >/dev/null
for f in usr/bin/vmtime usr/include/vmtime/vmtime.h usr/share/man/man1/vmtime.1 \
	usr/share/man/man3/libvmtime.3 usr/share/doc/vmtime/LICENSE; do
	[ -e "$dir/stage/$f" ] || fail "BUILD_TESTING=OFF install: missing $f"
done
pc=$(find "$dir/stage/usr" -name vmtime.pc)
grep -q '^prefix=/usr$' "$pc" || fail "staged vmtime.pc: $(grep ^prefix= "$pc")"
echo "BUILD_TESTING=OFF: libraries, tool and man pages only, installed under DESTDIR; VMT_WERROR=OFF: no -Werror"

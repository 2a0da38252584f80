#!/bin/sh
# SPDX-License-Identifier: MIT
#
# layers-test.sh SRC_DIR - every `#include "..."` of src/ points down the
# layers of docs/design.md (or stays in its own layer), never up.
#
#   0  clock core and utilities: time math, the clock page, the TSC
#      calibrator, errors, arrays, eventfds, JSON, CRC, test seams
#   1  source (a reader of a page)
#   2  keeper, share, guest pages (the keeper is the one writer)
#   3  loop + timers
#   4  timerfd, ptimer, snapshot, fields, units (and the keeper's unit)
#   5  devices (dev-*), KVM clock bridge
#
# Beyond the layers: nothing but the keeper's own files and share's keeper
# side reaches into keeper-internal.h (a source, the loop and the guest
# pages learn what they need from the page and the source ops), and nothing
# above the loop reaches into loop-internal.h (timerfd and ptimer are built
# on the public timer API, like any device model).
# A file missing from the table fails the test: add it where it belongs.
set -u
src=${1:?usage: layers-test.sh SRC_DIR}

layer() {
	case "$1" in
	keeper-unit.c) echo 4 ;; # the keeper as a unit, saved with the fields codec
	internal.h | error.c | strerror.c | version.c | time.c | crc32c.* | array.h | \
	efd.* | json.* | testing.* | page.* | tsc.*) echo 0 ;;
	source.c | source-internal.h) echo 1 ;;
	keeper.c | keeper-*.c | keeper-internal.h | share-*.c | share-internal.h | \
	guest.c | guest-internal.h) echo 2 ;;
	loop.c | loop-*.c | loop-internal.h | timer.c | wheel.*) echo 3 ;;
	timerfd.c | ptimer.c | snapshot*.c | snapshot*.h | fields.* | saved-fields.h | \
	units*.c | units-internal.h) echo 4 ;;
	dev-*.c | dev-*.h | kvmclock*.c | kvmclock*.h) echo 5 ;;
	*) echo "" ;;
	esac
}

keeper_ok() {
	case "$1" in
	keeper.c | keeper-*.c | keeper-internal.h | share-keeper.c) return 0 ;;
	*) return 1 ;;
	esac
}

loop_ok() {
	case "$1" in
	loop.c | loop-*.c | loop-internal.h | timer.c | wheel.*) return 0 ;;
	*) return 1 ;;
	esac
}

fail=0
for path in "$src"/*.c "$src"/*.h; do
	f=${path##*/}
	lf=$(layer "$f")
	if [ -z "$lf" ]; then
		echo "layers: $f is in no layer (add it to tests/layers-test.sh)"
		fail=1
		continue
	fi
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$path"); do
		li=$(layer "$inc")
		if [ -z "$li" ]; then
			echo "layers: $f includes \"$inc\", which is in no layer"
			fail=1
		elif [ "$li" -gt "$lf" ]; then
			echo "layers: $f (layer $lf) includes \"$inc\" (layer $li): an arrow up"
			fail=1
		elif [ "$inc" = keeper-internal.h ] && ! keeper_ok "$f"; then
			echo "layers: $f includes keeper-internal.h: go through the page or the source ops"
			fail=1
		elif [ "$inc" = loop-internal.h ] && ! loop_ok "$f"; then
			echo "layers: $f includes loop-internal.h: use the public timer API"
			fail=1
		fi
	done
done
[ $fail -eq 0 ] && echo "layers: every include points down"
exit $fail

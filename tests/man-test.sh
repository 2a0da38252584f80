#!/usr/bin/env bash
# man-test.sh coverage MAN_DIR LIBVMTIME_SO - every vmt_* symbol the shared
#	library exports has a man3 page, and every function the headers
#	document (MAN_DIR/functions.txt) is exported.
# man-test.sh render MAN_DIR - groff renders every page with all warnings
#	on (-ww) and prints none; skipped (77) without groff.
set -euo pipefail
what=$1 dir=$2
case $what in
coverage)
	lib=$3
	command -v nm >/dev/null || { echo "nm missing: skipped"; exit 77; }
	syms=$(nm -D --defined-only "$lib" | awk '$3 ~ /^vmt_/ { sub(/@.*/, "", $3); print $3 }' | sort -u)
	[ -n "$syms" ] || { echo "no vmt_* symbol exported by $lib"; exit 1; }
	pages=$(ls "$dir/man3" | sed -n 's/\.3$//p' | sort)
	nopage=$(comm -23 <(echo "$syms") <(echo "$pages"))
	unexported=$(comm -13 <(echo "$syms") <(sort "$dir/functions.txt"))
	bad=0
	for s in $nopage; do
		echo "exported $s has no man page (no kernel-doc comment in include/vmtime/?)"
		bad=1
	done
	for f in $unexported; do
		echo "documented $f() is not exported by $lib"
		bad=1
	done
	echo "$(wc -w <<<"$syms") exported symbols, $(wc -w <<<"$pages") man3 pages"
	exit $bad
	;;
render)
	command -v groff >/dev/null || { echo "groff missing (groff-base): skipped"; exit 77; }
	pages=()
	for p in "$dir"/man1/*.1 "$dir"/man3/*.3; do
		[ -e "$p" ] && pages+=("$p")
	done
	[ ${#pages[@]} -gt 0 ] || { echo "no pages in $dir"; exit 1; }
	# One groff for every page (each .TH starts a page afresh): a process
	# per page takes a minute on a loaded machine.  Warnings name the
	# file and line.
	out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "${pages[@]}" 2>&1) || { echo "$out"; echo "groff failed"; exit 1; }
	[ -z "$out" ] || { echo "$out"; exit 1; }
	echo "${#pages[@]} pages rendered without a warning"
	;;
*) echo "usage: $0 coverage MAN_DIR LIB | render MAN_DIR" >&2; exit 2 ;;
esac

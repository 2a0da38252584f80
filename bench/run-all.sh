#!/usr/bin/env bash
# Run every benchmark binary (bench-*) of a build directory, one after the
# other, with a header per benchmark; exit non-zero if any of them failed.
#
#   bash bench/run-all.sh BUILD_DIR [--long] [--runs N] [--only NAME]
#
# --long and --runs reach every benchmark through the environment
# (VMT_BENCH_LONG=1, VMT_BENCH_RUNS=N; see bench/bench.h), so a benchmark
# needs no argument parsing of its own to honour them.
set -uo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [--long] [--runs N] [--only NAME]" >&2
	exit 2
}

case ${1:-} in
-h | --help)
	echo "usage: $0 BUILD_DIR [--long] [--runs N] [--only NAME]"
	echo "runs every bench-* binary of BUILD_DIR (make bench builds build-bench/)"
	exit 0
	;;
esac
[ $# -ge 1 ] || usage
dir=$1
shift
only=
while [ $# -gt 0 ]; do
	case $1 in
	--long) export VMT_BENCH_LONG=1 ;;
	--runs) [ $# -ge 2 ] || usage; export VMT_BENCH_RUNS=$2; shift ;;
	--only) [ $# -ge 2 ] || usage; only=$2; shift ;;
	*) usage ;;
	esac
	shift
done

if [ ! -d "$dir" ]; then
	echo "run-all: no build directory $dir (configure and build it first)" >&2
	exit 1
fi

benches=()
for b in "$dir"/bench-*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	[ -n "$only" ] && [ "$(basename "$b")" != "$only" ] && continue
	benches+=("$b")
done
if [ ${#benches[@]} -eq 0 ]; then
	echo "run-all: no bench-* binaries in $dir" >&2
	exit 1
fi

# The machine goes with the numbers: results from a shared 2-core VM are not
# comparable to a quiet workstation.
echo "# machine: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')," \
	"$(nproc) CPUs, kernel $(uname -r)"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)${VMT_BENCH_LONG:+, long run}${VMT_BENCH_RUNS:+, runs=$VMT_BENCH_RUNS}"

failed=()
for b in "${benches[@]}"; do
	name=$(basename "$b")
	echo
	echo "=== $name ==="
	start=$(date +%s)
	"$b"
	rc=$?
	end=$(date +%s)
	if [ $rc -ne 0 ]; then
		echo "=== $name FAILED (exit $rc) after $((end - start)) s ==="
		failed+=("$name")
	else
		echo "=== $name done in $((end - start)) s ==="
	fi
done

echo
if [ ${#failed[@]} -ne 0 ]; then
	echo "run-all: ${#failed[@]} of ${#benches[@]} benchmarks failed: ${failed[*]}"
	exit 1
fi
echo "run-all: ${#benches[@]} benchmarks passed"

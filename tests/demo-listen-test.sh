#!/usr/bin/env bash
# demo-listen-test.sh VMTIME - `vmtime demo --listen PATH` serves the clock:
# `vmtime inspect --connect PATH` reads the running demo's keeper.
set -euo pipefail
vmtime=$1
dir=$(mktemp -d)
trap 'kill $demo 2>/dev/null || true; rm -rf "$dir"' EXIT
"$vmtime" demo --simulated --duration-scale 1 --listen "$dir/clock.sock" --json >"$dir/out" &
demo=$!
# The socket file exists from bind(), a moment before listen(): retry the
# connection itself, not just the wait for the file.  Retry for as long as
# the demo runs, not a fixed number of times: on a loaded machine its start
# may take longer than any count assumes.
json=
while kill -0 $demo 2>/dev/null; do
	if [ -S "$dir/clock.sock" ] && json=$("$vmtime" inspect --connect "$dir/clock.sock" 2>&1); then
		break
	fi
	json=
	sleep 0.05
done
[ -n "$json" ] || { echo "the demo ended before an inspect of $dir/clock.sock succeeded"; exit 1; }
echo "$json"
case $json in *'"alive":true'*) ;; *) echo "inspect did not see a live keeper"; exit 1 ;; esac
wait $demo
grep -q '"ok":true' "$dir/out"

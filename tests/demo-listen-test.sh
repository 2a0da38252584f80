#!/usr/bin/env bash
# demo-listen-test.sh VMTIME - `vmtime demo --listen PATH` serves the clock:
# `vmtime inspect --connect PATH` reads the running demo's keeper.
set -euo pipefail
vmtime=$1
dir=$(mktemp -d)
trap 'kill $demo 2>/dev/null || true; rm -rf "$dir"' EXIT
"$vmtime" demo --simulated --duration-scale 0.5 --listen "$dir/clock.sock" --json >"$dir/out" &
demo=$!
for _ in $(seq 100); do [ -S "$dir/clock.sock" ] && break; sleep 0.05; done
[ -S "$dir/clock.sock" ] || { echo "the demo never listened on $dir/clock.sock"; exit 1; }
json=$("$vmtime" inspect --connect "$dir/clock.sock")
echo "$json"
case $json in *'"alive":true'*) ;; *) echo "inspect did not see a live keeper"; exit 1 ;; esac
wait $demo
grep -q '"ok":true' "$dir/out"

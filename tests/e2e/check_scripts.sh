#!/bin/bash
# Every example script in scripts/ must load and validate: they are the
# documentation of the script API, so a broken one is a broken doc.
set -uo pipefail
bin=$1
dir=$(cd "$(dirname "$0")/../../scripts" && pwd)
passed=0 failed=0
for script in "$dir"/*.lua; do
	if out=$("$bin" --check "$script" 2>&1); then
		echo "ok   $(basename "$script"): $(sed -n 2p <<< "$out")"
		passed=$((passed + 1))
	else
		echo "FAIL $(basename "$script"): $out"
		failed=$((failed + 1))
	fi
done
echo "scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

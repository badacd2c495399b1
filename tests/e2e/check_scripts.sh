#!/bin/bash
# Every example script in scripts/ must load and validate, and every rule
# test beside them (*_test.lua) must pass: they are the documentation of
# the script API, so a broken one is a broken doc.  Files that a script
# loads with rules_file() are checked through that script.
set -uo pipefail
bin=$1
dir=$(cd "$(dirname "$0")/../../scripts" && pwd)
passed=0 failed=0
for script in "$dir"/*.lua; do
	name=$(basename "$script")
	if grep -qs "rules_file *[(\"'] *[\"']\?$name" "$dir"/*.lua; then
		continue
	fi
	case $name in
	*_test.lua) cmd=("$bin" test "$script") ;;
	*) cmd=("$bin" --check "$script") ;;
	esac
	if out=$("${cmd[@]}" 2>&1); then
		echo "ok   $name: $(tail -n 1 <<< "$out")"
		passed=$((passed + 1))
	else
		echo "FAIL $name:"
		sed 's/^/    /' <<< "$out"
		failed=$((failed + 1))
	fi
done
echo "scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

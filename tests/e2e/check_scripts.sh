#!/bin/bash
# Every example script in scripts/ must load and validate: they are the
# documentation of the script API, so a broken one is a broken doc.
# Rule test files (*_test.lua) are run with `salesengine test` instead,
# and a file another script loads with rules_file("name.lua") is not a
# script of its own: it is checked through that script's rule tests.
set -uo pipefail
bin=$1
dir=$(cd "$(dirname "$0")/../../scripts" && pwd)
passed=0 failed=0
for script in "$dir"/*.lua; do
	name=$(basename "$script")
	if [[ $name == *_test.lua ]]; then
		if out=$("$bin" test "$script" 2>&1); then
			echo "ok   $name: $(tail -n 1 <<< "$out")"
			passed=$((passed + 1))
		else
			echo "FAIL $name:"
			echo "$out"
			failed=$((failed + 1))
		fi
		continue
	fi
	owner=
	for other in "$dir"/*.lua; do
		[ "$other" != "$script" ] && grep -qF "rules_file(\"$name\")" "$other" && owner=$(basename "$other")
	done
	if [ -n "$owner" ]; then
		echo "ok   $name: rules file of $owner"
		continue
	fi
	if out=$("$bin" --check "$script" 2>&1); then
		echo "ok   $name: $(sed -n 2p <<< "$out")"
		passed=$((passed + 1))
	else
		echo "FAIL $name: $out"
		failed=$((failed + 1))
	fi
done
echo "scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

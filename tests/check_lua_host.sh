#!/bin/bash
# Only core/lua/ touches a lua_State: no other source file of the program
# includes Lua's headers.  tests/ and tests/fuzz are not the program.
#   tests/check_lua_host.sh SOURCE_DIR
set -uo pipefail
src=${1:-.}
found=$(grep -rlE '#[[:space:]]*include[[:space:]]*[<"](lua|lauxlib|lualib)\.h[>"]' \
	"$src/core" "$src/include" | grep -v "^$src/core/lua/")
if [ -n "$found" ]; then
	echo "Lua's headers outside core/lua/:"
	echo "$found"
	exit 1
fi
echo "Lua's headers only in core/lua/"

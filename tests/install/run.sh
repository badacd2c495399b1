#!/bin/bash
# The installed program on its own: `cmake --install` into a temporary
# prefix, the prefix moved to another directory (the program must find its
# files relative to itself), then run from an empty directory with nothing
# of the source or build tree reachable: when the kernel allows an
# unprivileged mount namespace, both trees are hidden under empty tmpfs
# mounts for the runs; always, the binary must not contain their paths.
#
#   run.sh CMAKE BUILD_DIR SOURCE_DIR [sanitized]
#
# "sanitized": a sanitizer build, whose checks carry their source file
# names for their reports; it is never one to install, and the binary's
# paths are not checked.
#
# Fixtures are written here, not copied from the source tree.
set -uo pipefail

cmake=$1
build=$(realpath "$2")
src=$(realpath "$3")
sanitized=${4:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/se-install-XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0 passed=0
: >"$work/diff"

ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() {
	echo "FAIL $1"
	[ $# -gt 1 ] && sed 's/^/    /' <<<"$2" | head -30
	failed=$((failed + 1))
}

# ---- install, then move the prefix -------------------------------------------
if ! out=$("$cmake" --install "$build" --prefix "$work/staged" 2>&1); then
	fail "cmake --install" "$out"
	exit 1
fi
mkdir -p "$work/moved"
cp -a "$work/staged" "$work/moved/prefix" && rm -rf "$work/staged"
P=$work/moved/prefix
se=$P/bin/salesengine

missing=""
for f in bin/salesengine share/salesengine/importers/wide.lua share/salesengine/importers/amocrm.lua \
	share/salesengine/lib/metrics.lua share/salesengine/lib/amocrm.lua \
	share/salesengine/examples/example.lua share/salesengine/examples/retail_vk_test.lua \
	share/salesengine/examples/data/sample_events.csv share/doc/salesengine/SCRIPTING.md \
	share/doc/salesengine/README.md share/man/man1/salesengine.1; do
	[ -f "$P/$f" ] || missing="$missing $f"
done
[ -x "$se" ] || missing="$missing (bin/salesengine not executable)"
if [ -z "$missing" ]; then ok "installed files"; else fail "installed files: missing$missing"; fi
if [ -e "$P/bin/salesengine-data-dir" ] || [ -e "$P/share/salesengine/examples/importers" ]; then
	fail "the install copies the build tree's pointer file or nests importers/ in examples/"
else
	ok "nothing of the build tree installed"
fi
# `strings`, without needing binutils: any byte run with a tree's path.
for tree in "$src" "$build"; do
	if [ "$sanitized" = sanitized ]; then
		echo "skip the installed binary's paths (a sanitizer build names its sources)"
	elif grep -a -q -F "$tree" "$se"; then
		fail "the installed binary contains $tree" \
			"$(grep -a -o "$(sed 's/[][\.*^$]/\\&/g' <<<"$tree")[^[:cntrl:]]*" "$se" | sort -u | head)"
	else
		ok "the installed binary does not contain $tree"
	fi
done

# ---- the runs, from an empty directory, without either tree ---------------------
mkdir -p "$work/cwd"
cat >"$work/cwd/deals.csv" <<'EOF'
opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value
D1,Anna,Basic,Acme,Won,2024-01-10,2024-02-01,1000
D2,Anna,Basic,Acme,Lost,2024-01-11,2024-01-20,0
D3,Boris,Pro,Initech,Won,2024-01-12,2024-02-05,3000
D4,Boris,Pro,,Engaging,2024-01-15,,
EOF
cat >"$work/cwd/rules.lua" <<'EOF'
local m = require "metrics"
funnel {
  name = "sales",
  stages = { "Engaging", "Won" },
  won = "Won",
  lost = { "Lost" },
}
metric { name = "average_deal", format = "money", value = m.average_deal }
EOF
# By hand: 4 deals engage (2 each); won 1000 (Anna) and 3000 (Boris), so
# the average deal is 2000 for the team, each manager's own for him.
cat >"$work/want_report" <<'EOF'
report,funnel,period,dimension,name,leads
leads,sales,all,team,*,4
leads,sales,all,manager,Anna,2
leads,sales,all,manager,Boris,2
leads,sales,all,source,Basic,2
leads,sales,all,source,Pro,2

report,funnel,metric,period,dimension,name,value
metrics,sales,average_deal,all,team,*,2000.00
metrics,sales,average_deal,all,manager,Anna,1000.00
metrics,sales,average_deal,all,manager,Boris,3000.00
metrics,sales,average_deal,all,source,Basic,1000.00
metrics,sales,average_deal,all,source,Pro,3000.00
EOF
mkdir -p "$work/empty_data"
ln -s "$se" "$work/cwd/se-link"

# Every run below happens in one shell, inside the namespace when there is
# one, and writes NAME.out, NAME.err, NAME.status into $work/runs.
cat >"$work/runs.sh" <<'EOF'
set -u
cd "$W/cwd"
unset SALESENGINE_DATA_DIR SALESENGINE_DB
run() { name=$1; shift; "$@" >"$W/runs/$name.out" 2>"$W/runs/$name.err"; echo $? >"$W/runs/$name.status"; }
[ -e "$SRC" ] && ls -A "$SRC" | head -1 >"$W/runs/src_visible" || : >"$W/runs/src_visible"
run import "$SE" --db t.db --import-with wide deals.csv rules.lua --format csv --report leads,metrics \
	--as-of 2024-03-01T00:00:00Z
run version "$SE" --version
run link ./se-link --db t.db --format csv --report leads,metrics --as-of 2024-03-01T00:00:00Z rules.lua
run empty_env env SALESENGINE_DATA_DIR="$W/empty_data" "$SE" --db e.db --import-with wide deals.csv
run empty_version env SALESENGINE_DATA_DIR="$W/empty_data" "$SE" --version
run help "$SE" --help
if command -v man >/dev/null; then
	run man env MANWIDTH=80 MANPAGER=cat PAGER=cat man -l "$P/share/man/man1/salesengine.1"
else
	run man groff -man -Tutf8 -rLL=80n "$P/share/man/man1/salesengine.1"
fi
EOF
mkdir -p "$work/runs"
export W=$work SE=$se SRC=$src P
hidden=no
case "$work/" in "$src/"* | "$build/"*) ;; *)
	if unshare -rm true 2>/dev/null; then hidden=yes; fi ;;
esac
if [ $hidden = yes ]; then
	unshare -rm bash -c 'mount -t tmpfs none "$1" && { [ "$2" = "$1" ] || case "$2/" in "$1/"*) ;; *) mount -t tmpfs none "$2";; esac; } && bash "$W/runs.sh"' \
		_ "$src" "$build"
	if [ -s "$work/runs/src_visible" ]; then fail "the source tree is still visible in the namespace"; fi
	echo "note: runs with $src and $build hidden (empty mounts)"
else
	bash "$work/runs.sh"
	echo "note: no mount namespace here; runs with the trees in place (the binary names neither)"
fi

r=$work/runs
if [ "$(cat $r/import.status)" = 0 ] && diff -u "$work/want_report" "$r/import.out" >"$work/diff"; then
	ok "--import-with wide and require \"metrics\" from the moved prefix"
else
	fail "--import-with wide (status $(cat $r/import.status))" "$(cat $r/import.err "$work/diff")"
fi
if grep -qx 'deals.csv (wide): records 4, read 7, imported 7, duplicates 0, rejected 0' "$r/import.err"; then
	ok "import summary"
else
	fail "import summary" "$(cat $r/import.err)"
fi
if [ "$(cat $r/link.status)" = 0 ] && diff -u "$work/want_report" "$r/link.out" >"$work/diff"; then
	ok "run through a symlink to the program"
else
	fail "run through a symlink (status $(cat $r/link.status))" "$(cat $r/link.err "$work/diff")"
fi

version=$(sed -n 's/^salesengine \([0-9][0-9.]*\)$/\1/p' "$r/version.out")
if [ "$(cat $r/version.status)" = 0 ] && [ -n "$version" ] &&
	grep -qxF "  installed               $P/share/salesengine (used)" "$r/version.out" &&
	grep -qxF "  \$SALESENGINE_DATA_DIR   (not set)" "$r/version.out" &&
	grep -qxF "  build tree              (no salesengine-data-dir file beside the program)" "$r/version.out"; then
	ok "--version names the moved prefix as used"
else
	fail "--version" "$(cat $r/version.out $r/version.err)"
fi
if [ "$(cat $r/empty_env.status)" = 2 ] &&
	grep -qxF "salesengine: unknown adapter 'wide' (no bundled adapters in $work/empty_data/importers; give the path of a .lua file)" "$r/empty_env.err" &&
	grep -qxF "  \$SALESENGINE_DATA_DIR   $work/empty_data (used, but has no importers/ and lib/)" "$r/empty_version.out" &&
	grep -qxF "  installed               $P/share/salesengine (found)" "$r/empty_version.out"; then
	ok "\$SALESENGINE_DATA_DIR overrides the installed place"
else
	fail "\$SALESENGINE_DATA_DIR override (status $(cat $r/empty_env.status))" \
		"$(cat $r/empty_env.err $r/empty_version.out)"
fi

# The man page renders, and names the version and every long option of --help.
page=$(cat "$r/man.out")
missing=""
for opt in $(grep -o -- '--[a-z][a-z-]*' "$r/help.out" | sort -u); do
	grep -qF -- "$opt" <<<"$page" || missing="$missing $opt"
done
if [ "$(cat $r/man.status)" = 0 ] && grep -q '^NAME' <<<"$page" && grep -q '^EXIT STATUS' <<<"$page" &&
	grep -q '^ENVIRONMENT' <<<"$page" && grep -q "salesengine $version" <<<"$page" &&
	[ -z "$missing" ]; then
	ok "man page renders ($(wc -l <"$r/man.out") lines, every option of --help)"
else
	fail "man page (status $(cat $r/man.status); options missing:${missing:- none})" "$(head -5 $r/man.err)"
fi

# Every roff warning groff knows, as a lint of the page's source.
if command -v groff >/dev/null; then
	if out=$(groff -man -Tutf8 -ww -z "$P/share/man/man1/salesengine.1" 2>&1) && [ -z "$out" ]; then
		ok "man page has no roff warnings"
	else
		fail "roff warnings in the man page" "$out"
	fi
fi

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

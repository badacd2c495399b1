#!/bin/bash
# Reports on a database the program cannot write, and on a corrupt history
# cache.  The read-only case needs a read-only file system (a read-only
# bind mount in a private mount namespace: unshare -m, as root); where that
# is not possible the script says so and is skipped (77).  Each report must
# print exactly what the same report prints on the writable file.
set -uo pipefail

bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/fixtures/." "$work/"
cd "$work" || exit 1
mkdir store
asof=--as-of=2025-01-20T12:00:00Z
failed=0

fail() {
	echo "FAIL $*"
	failed=1
}

"$bin" --db store/a.db --import mixed.csv >/dev/null 2>&1
[ -f store/a.db-wal ] && fail "the WAL is left after a clean close"
"$bin" --db store/a.db "$asof" --format csv rules.lua >want.out 2>want.err || fail "the report on the writable file"
[ -s want.out ] || fail "the report printed nothing"

# A corrupt chunk: rebuilt from the events with a warning, same output.
sqlite3 store/a.db "UPDATE deal_chunk SET data = x'00' WHERE id = (SELECT min(id) FROM deal_chunk)"
"$bin" --db store/a.db "$asof" --format csv rules.lua >corrupt.out 2>corrupt.err ||
	fail "the report on a corrupt cache: $(cat corrupt.err)"
cmp -s want.out corrupt.out || fail "the report on a corrupt cache differs"
grep -q "^salesengine: warning: history cache: chunk [0-9]*: cache chunk is corrupt (bad header); rebuilding it from the events$" corrupt.err ||
	fail "no warning for the corrupt cache: $(cat corrupt.err)"
"$bin" --db store/a.db "$asof" --format csv rules.lua >again.out 2>again.err
[ -s again.err ] && fail "a warning after the rebuild: $(cat again.err)"

# Read-only: the file, its folder, and (when possible) the file system,
# without the -wal and -shm files SQLite would want to make.
rm -f store/a.db-wal store/a.db-shm
chmod 0444 store/a.db
chmod 0555 store
if ! unshare -m --propagation private true 2>/dev/null; then
	echo "skipped: no private mount namespace here (unshare -m)"
	chmod 0755 store
	exit 77
fi
unshare -m --propagation private sh -c '
	mount --bind -o ro store store || exit 77
	"$1" --db store/a.db "$2" --format csv rules.lua >ro.out 2>ro.err
	echo $? >ro.status
	# A corrupt cache cannot be rebuilt here: a clear error.
	cp store/a.db bad.db && sqlite3 bad.db "UPDATE deal_chunk SET data = x00 WHERE id = 1" 2>/dev/null
' sh "$bin" "$asof"
rc=$?
[ $rc -eq 77 ] && { echo "skipped: cannot bind-mount read-only"; chmod 0755 store; exit 77; }
[ "$(cat ro.status)" = 0 ] || fail "the report on the read-only file system: $(cat ro.err)"
cmp -s want.out ro.out || fail "the report on the read-only file system differs"
[ -s ro.err ] && fail "messages on the read-only file system: $(cat ro.err)"
[ "$(ls store)" = a.db ] || fail "files beside the read-only database: $(ls store)"

# A corrupt cache on a read-only file system: it cannot be rebuilt there.
chmod 0755 store
chmod 0644 store/a.db
sqlite3 store/a.db "UPDATE deal_chunk SET data = x'00' WHERE id = (SELECT min(id) FROM deal_chunk)"
unshare -m --propagation private sh -c '
	mount --bind -o ro store store || exit 77
	"$1" --db store/a.db "$2" --format csv rules.lua >rocorrupt.out 2>rocorrupt.err
	echo $? >rocorrupt.status
' sh "$bin" "$asof"
[ "$(cat rocorrupt.status)" = 1 ] || fail "a corrupt cache on a read-only file system: status $(cat rocorrupt.status)"
grep -q "history cache: chunk [0-9]*: cache chunk is corrupt (bad header); open the database writable once" rocorrupt.err ||
	fail "no clear error for a corrupt cache that cannot be rebuilt: $(cat rocorrupt.err)"

[ $failed -eq 0 ] && echo "readonly: ok"
exit $failed

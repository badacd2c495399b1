#!/bin/bash
# No circles: which object file defines each global symbol and which it
# uses, read with nm; a file that calls into a file that (directly or
# through others) calls it back fails the check, with the loop printed.
#
#   tests/check_layers.sh [--known FILE] OBJECT.o...
#
# --known FILE: loops already known and being taken apart, one per line
# (the files of the loop, in any order, as printed below: "report.c
# cube.c"); such a loop is printed but does not fail the check.  Any other
# loop, including a known one that grew a file, fails.
#
# Arrows through function pointers (callbacks a caller hands down) are not
# seen by the linker and are allowed on purpose: they are how a lower layer
# reports upward without depending on it.
set -uo pipefail
known=/dev/null
if [ "${1:-}" = --known ]; then
	known=$2
	shift 2
fi
if [ $# -eq 0 ]; then
	echo "usage: $0 [--known FILE] OBJECT.o..." >&2
	exit 2
fi
# A short name per object: core/lua/eval.c.o -> lua/eval.c
for obj in "$@"; do
	name=${obj##*/core/}
	name=${name%.o}
	nm -g "$obj" | awk -v f="$name" 'NF >= 2 { print f, $(NF-1), $NF }'
done | awk -v known_file="$known" '
	BEGIN {
		while ((getline line < known_file) > 0) {
			sub(/#.*/, "", line)
			if (line ~ /[^ \t]/)
				known[sorted(line)] = 1
		}
	}
	# The words of s in order, one space apart.
	function sorted(s,   a, n, i, j, t, out) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		out = ""
		for (i = 1; i <= n; i++)
			out = out (i > 1 ? " " : "") a[i]
		return out
	}
	$2 == "U" { uses[$1] = uses[$1] " " $3; files[$1] = 1; next }
	$2 ~ /^[TDBRCVW]$/ { def[$3] = $1; files[$1] = 1 }
	END {
		for (f in uses) {
			n = split(uses[f], s, " ")
			for (i = 1; i <= n; i++) {
				g = def[s[i]]
				if (g != "" && g != f && !((f, g) in edge)) {
					edge[f, g] = s[i]
					adj[f] = adj[f] " " g
				}
			}
		}
		# Tarjan: every strongly connected component of more than one file
		# is a loop.
		idx = 0; sp = 0; bad = 0
		for (f in files)
			if (!(f in num))
				visit(f)
		exit bad
	}
	function visit(v,   n, w, i, a, comp, first) {
		num[v] = low[v] = ++idx
		stack[++sp] = v; on[v] = 1
		n = split(adj[v], a, " ")
		for (i = 1; i <= n; i++) {
			w = a[i]
			if (!(w in num)) {
				visit(w)
				if (low[w] < low[v]) low[v] = low[w]
			} else if (on[w] && num[w] < low[v]) {
				low[v] = num[w]
			}
		}
		if (low[v] == num[v]) {
			comp = ""; size = 0
			do {
				w = stack[sp--]; on[w] = 0
				member[w] = v; comp = comp " " w; size++
			} while (w != v)
			if (size > 1) {
				if (sorted(comp) in known) {
					printf "known loop among:%s\n", comp
				} else {
					bad = 1
					printf "loop among:%s\n", comp
				}
				n = split(comp, a, " ")
				for (i = 1; i <= n; i++)
					for (j = 1; j <= n; j++)
						if ((a[i], a[j]) in edge)
							printf "  %s -> %s (%s)\n", a[i], a[j], edge[a[i], a[j]]
			}
		}
	}
'
status=$?
if [ $status -eq 0 ]; then
	echo "no loops among $# objects"
fi
exit $status

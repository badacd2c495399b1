#!/bin/bash
# Bash completion (scripts/completion/salesengine.bash): sourced in a plain
# bash, the completion function answers for options and their values, and
# knows every long option that `salesengine --help` lists.
# completion.sh BINARY SOURCE_DIR
set -uo pipefail
bin=$1
. "$2/scripts/completion/salesengine.bash"
passed=0 failed=0

# complete LINE...: COMPREPLY for the words given, the last one being completed
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_salesengine salesengine "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}
expect() { # NAME EXPECTED_SORTED_WORDS
	local got
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	if [ "$got" = "$2 " ]; then
		echo "ok   $1"; passed=$((passed + 1))
	else
		echo "FAIL $1: got '$got', want '$2 '"; failed=$((failed + 1))
	fi
}

complete_words salesengine --for
expect option_prefix "--format"
complete_words salesengine --report ""
expect report_names "all backtest channels compare conversion diagnostics digest forecast handling leads metrics presale sources unknown velocity"
complete_words salesengine --report leads,con
expect report_list "leads,conversion"
complete_words salesengine -f h
expect format_value "html"
complete_words salesengine --format = x
expect format_equals "xlsx"
complete_words salesengine --lang ""
expect lang "en ru"
# the CRMs --sync knows, as --help lists them
sync_crms=$("$bin" --help | tr '\n' ' ' | sed -e 's/.*--sync=CRM[^(]*(//' -e 's/).*//' |
	tr -s ', ' '\n\n' | sort -u | tr '\n' ' ')
complete_words salesengine --sync ""
expect sync_crms "${sync_crms% }"
complete_words salesengine --per
expect period_option "--period"

# every long option of --help is completed, and nothing else
help_opts=$("$bin" --help | grep -o -- '--[a-z][a-z-]*' | sort -u | tr '\n' ' ')
complete_words salesengine --
expect all_options "${help_opts% }"

echo "completion: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

# bash completion for salesengine
#   . /path/to/salesengine/scripts/completion/salesengine.bash
# or copy it to /usr/share/bash-completion/completions/salesengine.
# Completes the options, their values (formats, reports with comma lists,
# periods, languages, adapters, CRMs to sync) and file names where a file is expected.

_salesengine() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null 2>&1; then
		_init_completion -s || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		cword=$COMP_CWORD
		# --opt=value arrives as "--opt" "=" "value" (= is in COMP_WORDBREAKS)
		if [[ $cur == = ]]; then
			prev=${COMP_WORDS[COMP_CWORD - 1]}
			cur=
		elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
			prev=${COMP_WORDS[COMP_CWORD - 2]}
		fi
	fi

	local opts="--db --import --input-format --delimiter --input-tz --import-with --encoding
		--sync --snapshot-time --format --report --compare --spend --period --mode --from --to --tz
		--funnel --as-of --recount --output --excel --lang --alerts --allow-commands --check
		--max-instructions --max-memory --max-seconds --hook-timeout --quiet --help --version"
	local reports="leads conversion presale sources unknown handling diagnostics velocity
		forecast backtest channels compare metrics digest all"

	case $prev in
	-f | --format)
		COMPREPLY=($(compgen -W "table csv json prometheus html xlsx" -- "$cur"))
		return ;;
	-r | --report)
		# a comma-separated list: complete the last name, keep the ones before
		local done_part=
		[[ $cur == *,* ]] && done_part=${cur%,*},
		COMPREPLY=($(compgen -P "$done_part" -W "$reports" -- "${cur##*,}"))
		compopt -o nospace 2>/dev/null
		return ;;
	-p | --period)
		COMPREPLY=($(compgen -W "total day week month" -- "$cur"))
		return ;;
	-m | --mode)
		COMPREPLY=($(compgen -W "reached touched" -- "$cur"))
		return ;;
	--lang)
		COMPREPLY=($(compgen -W "ru en" -- "$cur"))
		return ;;
	--input-format)
		COMPREPLY=($(compgen -W "csv jsonl" -- "$cur"))
		return ;;
	--delimiter)
		COMPREPLY=($(compgen -W ", ';' tab" -- "$cur"))
		return ;;
	--alerts)
		COMPREPLY=($(compgen -W "all" -- "$cur"))
		return ;;
	--import-with)
		COMPREPLY=($(compgen -W "amocrm bitrix24 bluesales hubspot pipedrive two_table wide" -- "$cur")
		           $(compgen -f -X '!*.lua' -- "$cur"))
		return ;;
	--sync)
		COMPREPLY=($(compgen -W "amocrm bitrix24 bluesales hubspot pipedrive" -- "$cur"))
		return ;;
	--encoding)
		COMPREPLY=($(compgen -W "UTF-8 cp1251 KOI8-R" -- "$cur"))
		return ;;
	-d | --db | -i | --import | --spend | -o | --output)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--input-tz | --tz | --from | --to | --as-of | --snapshot-time | --funnel | \
	--max-instructions | --max-memory | --max-seconds | --hook-timeout)
		return ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	# the rules script (a first word "test" runs rule tests)
	if ((cword == 1)); then
		COMPREPLY=($(compgen -W "test" -- "$cur"))
	fi
	COMPREPLY+=($(compgen -f -X '!*.lua' -- "$cur") $(compgen -d -- "$cur"))
}
complete -F _salesengine salesengine

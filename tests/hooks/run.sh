#!/bin/bash
# The chat hooks (scripts/hooks) against a recording HTTP server on
# 127.0.0.1: the request's method, path and JSON body; a refused post fails
# the hook; and the whole chain, salesengine --alerts running slack.sh, with
# values as people read them.
# run.sh BINARY
set -uo pipefail
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
hooks="$here/../../scripts/hooks"
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
for tool in jq curl /usr/bin/python3; do
	command -v "$tool" >/dev/null || { echo "skipped: $tool is missing"; exit 77; }
done
unset LC_ALL LC_MESSAGES
export LANG=C.UTF-8
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }

# start_server STATUS: a fresh recorder; sets $port.
start_server() {
	rm -f "$work/port" "$work/log"
	/usr/bin/python3 "$here/record_server.py" "$work/port" "$work/log" "$1" &
	server_pid=$!
	for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
	port=$(cat "$work/port")
}
stop_server() { wait "$server_pid" 2>/dev/null; server_pid=; }

# field EXPR: a jq expression over the one recorded request
field() { jq -r "$1" "$work/log"; }

alert='{"event": "firing", "at": "2025-01-20T12:00:00Z", "rule": "quote_rate_drop", "severity": "warning", "labels": {"funnel": "продажи", "manager": "Иванов \"Ваня\""}, "value": 0.214, "threshold": 0.3, "sample": 14, "message": "Иванов: презентация→КП 21.4% < 30.0%", "format": "percent", "value_text": "21.4%", "threshold_text": "30.0%"}'
want_text='FIRING [warning] quote_rate_drop (продажи, manager Иванов "Ваня")
Иванов: презентация→КП 21.4% < 30.0%
value 21.4%, threshold 30.0%'

# Telegram: POST /bot<token>/sendMessage, JSON {chat_id, text}
start_server 200
printf '%s\n' "$alert" | SALESENGINE_TELEGRAM_TOKEN=123:ABC SALESENGINE_TELEGRAM_CHAT=-100777 \
	SALESENGINE_TELEGRAM_API="http://127.0.0.1:$port" "$hooks/telegram.sh"
rc=$?
stop_server
if [ $rc -eq 0 ] && [ "$(field .method)" = POST ] && [ "$(field .path)" = /bot123:ABC/sendMessage ] &&
	[ "$(field .content_type)" = application/json ] &&
	[ "$(field '.body | fromjson | .chat_id')" = -100777 ] &&
	[ "$(field '.body | fromjson | .text')" = "$want_text" ]; then
	ok telegram
else
	bad "telegram (status $rc)"; cat "$work/log" 2>/dev/null
fi

# Slack/Mattermost: POST to the webhook URL itself, JSON {text[, channel]}
start_server 200
printf '%s\n' "$alert" | SALESENGINE_SLACK_WEBHOOK="http://127.0.0.1:$port/hooks/KEY-1" \
	SALESENGINE_SLACK_CHANNEL=rop "$hooks/slack.sh"
rc=$?
stop_server
if [ $rc -eq 0 ] && [ "$(field .method)" = POST ] && [ "$(field .path)" = /hooks/KEY-1 ] &&
	[ "$(field '.body | fromjson | .channel')" = rop ] &&
	[ "$(field '.body | fromjson | .text')" = "$want_text" ]; then
	ok slack
else
	bad "slack (status $rc)"; cat "$work/log" 2>/dev/null
fi

# A refused post (HTTP 500) fails the hook, so salesengine reports it.
start_server 500
printf '%s\n' "$alert" | SALESENGINE_SLACK_WEBHOOK="http://127.0.0.1:$port/hooks/KEY" \
	"$hooks/slack.sh" 2>"$work/err"
rc=$?
stop_server
[ $rc -ne 0 ] && grep -q 500 "$work/err" && ok slack_refused || bad "slack_refused (status $rc)"

# A missing token is named, and nothing is sent.
printf '%s\n' "$alert" | env -u SALESENGINE_TELEGRAM_TOKEN SALESENGINE_TELEGRAM_CHAT=1 \
	"$hooks/telegram.sh" 2>"$work/err"
rc=$?
[ $rc -ne 0 ] && grep -q SALESENGINE_TELEGRAM_TOKEN "$work/err" && ok telegram_no_token ||
	bad "telegram_no_token (status $rc)"

# The chain: salesengine --alerts --allow-commands runs slack.sh with the
# alert; the percentage has one decimal, money two, in the chosen language.
cp "$here/../e2e/fixtures/mixed.csv" "$work/"
cat >"$work/rules.lua" <<'LUA'
settings { timezone = "Europe/Moscow", input_timezone = "Europe/Moscow" }
funnel { name = "продажи",
  stages = { { "Новая заявка", aliases = { "Новый лид" } }, "Квалификация", "Презентация",
             "Счёт выставлен", "Оплачено" }, lost = { "Отказ" }, nontarget = { "Спам" } }
rule { name = "qualified", metric = "conversion", from = "Новая заявка", to = "Квалификация",
  op = "<", threshold = 0.9, window = "all", message = "qualified {value}", command = { "slack.sh" } }
LUA
cat >"$work/rules_money.lua" <<'LUA'
settings { timezone = "Europe/Moscow", input_timezone = "Europe/Moscow" }
funnel { name = "продажи",
  stages = { { "Новая заявка", aliases = { "Новый лид" } }, "Квалификация", "Презентация",
             "Счёт выставлен", "Оплачено" }, lost = { "Отказ" }, nontarget = { "Спам" } }
rule { name = "revenue", metric = "revenue", op = "<", threshold = 1234567.5, window = "all",
  message = "revenue {value}", command = { "slack.sh" } }
LUA
# Expected values from the fixture by hand: of the 6 deals with a valid
# first event (D1-D6), D1, D2 (Презентация, so it passed Квалификация) and
# D5 reached Квалификация (D6's later rows are rejected): 3 of 6, 50.0%;
# revenue is D1's payment, 148 500,00.
chain() { # NAME RULES LANG EXPECTED_LINE
	start_server 200
	(cd "$work" && PATH="$hooks:$PATH" SALESENGINE_SLACK_WEBHOOK="http://127.0.0.1:$port/h" \
		"$bin" --db "$1.db" --import mixed.csv -q --as-of=2025-01-20T12:00:00Z --lang "$3" \
		--alerts --allow-commands "$2" >/dev/null 2>"$work/err")
	stop_server
	got=$(field '.body | fromjson | .text' 2>/dev/null | tail -1)
	if [ "$got" = "$4" ]; then ok "$1"; else bad "$1: got '$got', want '$4'"; cat "$work/err"; fi
}
chain chain_percent rules.lua en "value 50.0%, threshold 90.0%"
chain chain_money rules_money.lua en "value 148,500.00, threshold 1,234,567.50"
nb=$'\xc2\xa0' # Russian digit groups: U+00A0
chain chain_money_ru rules_money.lua ru "value 148${nb}500,00${nb}₽, threshold 1${nb}234${nb}567,50${nb}₽"

echo "hooks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

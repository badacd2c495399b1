# common.sh: what the chat hooks share (sourced, not run).
#
# alert_text turns the alert JSON that salesengine writes on a hook's stdin
# into a short plain-text message: the announcement, the rule and its
# severity, where it fired, the rule's own message, and the value against
# the threshold as people read them (value_text: a percentage with one
# decimal, money with two, in the language of --lang).
#
# post_json URL sends stdin as a JSON POST.  The URL holds the secret (a bot
# token or a webhook key), so it goes to curl through a private config file
# rather than the command line, where any user could read it with ps.

alert_text() {
	jq -r '
		def head: {"firing": "FIRING", "firing_again": "STILL FIRING", "resolved": "RESOLVED",
		           "pending": "pending", "failed": "RULE FAILED"}[.event] // .event;
		def where: [.labels.funnel, (.labels.manager // empty | "manager " + .),
		            (.labels.source // empty | "source " + .)] | map(select(. != null)) | join(", ");
		"\(head) [\(.severity // "-")] \(.rule // "-")"
		+ (if where != "" then " (\(where))" else "" end)
		+ (if (.message // "") != "" then "\n\(.message)" else "" end)
		+ (if (.value_text // "") != "" then
		     "\nvalue \(.value_text)" + (if .threshold_text then ", threshold \(.threshold_text)" else "" end)
		   else "" end)
	'
}

post_json() {
	cfg=$(mktemp) || return 1
	chmod 600 "$cfg"
	# curl's config syntax: a quoted string with \ and " escaped
	printf 'url = "%s"\n' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')" >"$cfg"
	curl --silent --show-error --fail --max-time 8 --config "$cfg" \
		-X POST -H 'Content-Type: application/json' --data-binary @- >/dev/null
	rc=$?
	rm -f "$cfg"
	return $rc
}

need() {
	for tool in jq curl; do
		command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool is needed" >&2; exit 1; }
	done
}

#!/bin/sh
# slack.sh: posts a salesengine alert (JSON on stdin) to a Slack or
# Mattermost incoming webhook (both take {"text": ...}).
#
#   rule { ..., command = { "/path/to/scripts/hooks/slack.sh" } }
#   SALESENGINE_SLACK_WEBHOOK=https://hooks.slack.com/services/T000/B000/XXXX \
#     salesengine --alerts --allow-commands rules.lua
#
# SALESENGINE_SLACK_WEBHOOK  the incoming webhook's URL (Mattermost:
#                            https://chat.example.com/hooks/KEY); a test
#                            points it at a local server
# SALESENGINE_SLACK_CHANNEL  optional channel override (Mattermost honours it;
#                            Slack's app webhooks post to their own channel)
set -u
. "$(dirname "$0")/common.sh"
need
: "${SALESENGINE_SLACK_WEBHOOK:?set SALESENGINE_SLACK_WEBHOOK to the incoming webhook URL}"

text=$(alert_text) || exit 1
jq -n --arg text "$text" --arg channel "${SALESENGINE_SLACK_CHANNEL:-}" \
	'{text: $text} + (if $channel != "" then {channel: $channel} else {} end)' |
	post_json "$SALESENGINE_SLACK_WEBHOOK"

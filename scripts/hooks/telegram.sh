#!/bin/sh
# telegram.sh: posts a salesengine alert (JSON on stdin) to a Telegram chat.
#
#   rule { ..., command = { "/path/to/scripts/hooks/telegram.sh" } }
#   SALESENGINE_TELEGRAM_TOKEN=123:ABC SALESENGINE_TELEGRAM_CHAT=-1001234 \
#     salesengine --alerts --allow-commands rules.lua
#
# SALESENGINE_TELEGRAM_TOKEN  the bot's token from @BotFather
# SALESENGINE_TELEGRAM_CHAT   the chat id (a group's starts with -100) or @channel
# SALESENGINE_TELEGRAM_API    the Bot API base URL (default https://api.telegram.org;
#                             a self-hosted Bot API server, or a test server)
# Exits non-zero when a variable is missing or the API refuses the message;
# salesengine then names the hook and its status on stderr.
set -u
. "$(dirname "$0")/common.sh"
need
: "${SALESENGINE_TELEGRAM_TOKEN:?set SALESENGINE_TELEGRAM_TOKEN to the bot token}"
: "${SALESENGINE_TELEGRAM_CHAT:?set SALESENGINE_TELEGRAM_CHAT to the chat id}"
api=${SALESENGINE_TELEGRAM_API:-https://api.telegram.org}

text=$(alert_text) || exit 1
# plain text (no parse_mode): rule messages may hold any character
jq -n --arg chat "$SALESENGINE_TELEGRAM_CHAT" --arg text "$text" \
	'{chat_id: $chat, text: $text, disable_web_page_preview: true}' |
	post_json "${api%/}/bot$SALESENGINE_TELEGRAM_TOKEN/sendMessage"

# shellcheck shell=bash
# kill.sh: sourced by the crash tests (bash).
#
# kill_live DELAY_MS PREPARE COMMAND...: runs PREPARE (a function that
# puts the database back where the run starts), then COMMAND in the
# background, and SIGKILLs it after DELAY_MS.  A run that was done before
# the kill (the machine may be faster now than when the test timed it) is
# tried again with an earlier moment, up to six times, so each kill lands
# in a live run.  Sets state ("killed" or "already done") and delay_ms
# (the moment of the last try).
kill_live() {
	local pid prepare=$2
	delay_ms=$1
	shift 2
	for _ in 1 2 3 4 5 6; do
		"$prepare"
		"$@" >/dev/null 2>&1 &
		pid=$!
		sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
		kill -9 $pid 2>/dev/null && state=killed || state="already done"
		wait $pid 2>/dev/null
		[ "$state" = killed ] && return 0
		delay_ms=$((delay_ms * 2 / 3))
	done
}

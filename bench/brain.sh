#!/usr/bin/env bash
# The benchmark's brain, driven by the message text on stdin (first word):
#   burn N    busy-loop on one core for N seconds (decimals allowed), then answer
#   sleep N   sleep N seconds, then answer
#   anything else: echo it back at once
# With STUB_PID_DIR set (the test helpers' brain pid folder), it records its pid there, so that
# BotProcess.leftovers() sees it.
set -u
text=$(cat)
if [ -n "${STUB_PID_DIR:-}" ]; then printf '%s\n' "$$" >>"$STUB_PID_DIR/brain-${COORD_UPDATE_ID:-0}"; fi
read -r word arg _ <<<"$text"
case "$word" in
  burn) timeout "$arg" sh -c 'while :; do :; done' ;;
  sleep) sleep "$arg" ;;
esac
printf 'echo: %s\n' "$text"

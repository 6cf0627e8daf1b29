#!/usr/bin/env bash
# The demo's brain: thinks for ECHO_DELAY_S seconds (default 3), then echoes the message.
set -eu
text=$(cat)
sleep "${ECHO_DELAY_S:-3}"
printf 'You said: %s\n' "$text"

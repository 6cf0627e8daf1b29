#!/usr/bin/env bash
# The benchmark's brain, driven by the message text on stdin (first word):
#   burn N    busy-loop on one core for N seconds (decimals allowed), then answer
#   sleep N   sleep N seconds, then answer
#   anything else: echo it back at once
# With STUB_PID_DIR set (the test helpers' brain pid folder), it records its pid there, so that
# BotProcess.leftovers() sees it.
# With COORD_PROGRESS_FILE set (the bot sets it; the baselines don't), a burn or sleep appends a
# progress line to it every 0.5 s while it works (issue #16), so the bot has progress to show.
set -u
text=$(cat)
if [ -n "${STUB_PID_DIR:-}" ]; then printf '%s\n' "$$" >>"$STUB_PID_DIR/brain-${COORD_UPDATE_ID:-0}"; fi
read -r word arg _ <<<"$text"
ticker=
if [ -n "${COORD_PROGRESS_FILE:-}" ] && { [ "$word" = burn ] || [ "$word" = sleep ]; }; then
  # The pause is the read builtin timing out on a pipe nobody writes to: no sleep process, so
  # nothing is orphaned when the ticker is killed, and the bench's count of `sleep`s stays right.
  (
    exec 3<> <(:)
    n=0
    while ! read -rt 0.5 -u 3 _; do
      n=$((n + 1))
      printf '%s %s: %s s\n' "$word" "$arg" "$((n / 2)).$((n % 2 * 5))" >>"$COORD_PROGRESS_FILE"
    done
  ) &
  ticker=$!
fi
case "$word" in
  burn) timeout "$arg" sh -c 'while :; do :; done' ;;
  sleep) sleep "$arg" ;;
esac
if [ -n "$ticker" ]; then
  kill "$ticker" 2>/dev/null
  wait "$ticker" 2>/dev/null
fi
printf 'echo: %s\n' "$text"

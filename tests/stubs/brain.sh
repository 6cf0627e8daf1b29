#!/usr/bin/env bash
# A stub brain for the tests, driven by the message text on stdin (first word):
#   sleep N ...   sleep N seconds, then answer        fail ...     exit 3 with a line on stderr
#   hang ...      never answer                         grandchild   start a grandchild, then hang
#   long N        answer with N characters             env          answer with the environment
#   lines N       answer with N numbered lines of 100 characters (every part of the answer differs)
#   notes N       append N progress notes to $COORD_PROGRESS_FILE, one a second, then answer
#   tempfail N    the first run of a message exits 75 with "retry-after: N"; a later one answers
#   empty         exit 0 and print nothing             gate NAME    wait for $STUB_GATE_DIR/NAME, answer
#   killhandler   SIGKILL the handler that started it (a crash), then exit
#   attachments   answer with each of $COORD_ATTACHMENTS and its size in bytes, then the text
#   escape        start `sleep 1000` in a session of its own with an empty environment (out of its
#                 group and without its marker: only its cgroup holds it), record its pid as
#                 escaped-<update> in $STUB_PID_DIR, then answer
#   parentenv     answer with the parent's (the handler's) command line and environment, from /proc
#   files         leave a.png (a real 1x1 PNG), b.pdf and c.bin (60 MiB) in $COORD_SEND_DIR, answer
#   filesonce     the first run leaves x.txt in $COORD_SEND_DIR and fails; a later one answers
#   send TEXT     run `deno task send -- TEXT` ($STUB_DENO, in the checkout $STUB_CHECKOUT), answer
#   anything else: echo it back
# With STUB_INPUT_DIR set, each run writes its stdin, exactly, to input-<update> there.
# With STUB_BRAIN_LOG set, each run appends "start <update> <chat> <text>" and "end <update>" to it,
# and a run that answered after a sleep "done <update>" just before it exits.
# With STUB_PID_DIR set, each run writes its pid (and its grandchild's) there.
set -u
text=$(cat)
if [ -d "${STUB_INPUT_DIR:-}" ]; then printf '%s' "$text" >"$STUB_INPUT_DIR/input-${COORD_UPDATE_ID}"; fi
log() { if [ -n "${STUB_BRAIN_LOG:-}" ]; then printf '%s\n' "$*" >>"$STUB_BRAIN_LOG"; fi; }
pids() { if [ -n "${STUB_PID_DIR:-}" ]; then printf '%s\n' "$@" >>"$STUB_PID_DIR/brain-$COORD_UPDATE_ID"; fi; }
pids $$
log "start ${COORD_UPDATE_ID} ${COORD_CHAT_ID} ${text//$'\n'/ }"
trap 'log "end ${COORD_UPDATE_ID}"' EXIT
read -r word arg _ <<<"$text"
case "$word" in
  sleep) sleep "$arg" && printf 'slept %s: %s\n' "$arg" "$text" && log "done ${COORD_UPDATE_ID}" ;;
  fail) printf 'boom: the stub brain failed on purpose\n' >&2 && exit 3 ;;
  hang) sleep 1000 ;;
  grandchild)
    sleep 1000 &
    pids $!
    wait
    ;;
  long) head -c "$arg" /dev/zero | tr '\0' 'x' | fold -w 99 ;;
  lines)
    pad=$(head -c 89 /dev/zero | tr '\0' 'y')
    for i in $(seq 1 "$arg"); do printf 'line %05d %s\n' "$i" "$pad"; done
    ;;
  env) env ;;
  parentenv) printf 'parent: %s\n' "$(tr '\0' ' ' </proc/$PPID/cmdline)" && tr '\0' '\n' </proc/$PPID/environ ;;
  empty) exit 0 ;;
  killhandler) kill -KILL "$PPID" ;;
  escape)
    setsid env -i /bin/sh -c 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >"$1.tmp" && mv "$1.tmp" "$1"' sh \
      "${STUB_PID_DIR:?}/escaped-${COORD_UPDATE_ID}"
    until [ -e "${STUB_PID_DIR}/escaped-${COORD_UPDATE_ID}" ]; do sleep 0.01; done
    printf 'escaped\n'
    ;;
  attachments)
    while IFS= read -r path; do
      [ -n "$path" ] && printf '%s %s\n' "$path" "$(wc -c <"$path")"
    done <<<"${COORD_ATTACHMENTS:-}"
    printf 'text: %s\n' "$text"
    ;;
  files)
    printf '%s' 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==' |
      base64 -d >"${COORD_SEND_DIR:?}/a.png"
    printf '%%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n' >"$COORD_SEND_DIR/b.pdf"
    head -c 62914560 /dev/zero >"$COORD_SEND_DIR/c.bin"
    printf 'here are the files\n'
    ;;
  filesonce)
    seen="${STUB_PID_DIR:-/tmp}/filesonce-${COORD_UPDATE_ID}"
    if [ ! -e "$seen" ]; then
      : >"$seen"
      printf 'from the failed attempt\n' >"${COORD_SEND_DIR:?}/x.txt"
      exit 3
    fi
    printf 'second attempt, no file\n'
    ;;
  send)
    cd "${STUB_CHECKOUT:?}" && "${STUB_DENO:?}" task -q send -- "${text#send }" && printf 'sent from the brain\n'
    ;;
  notes)
    for i in $(seq 1 "$arg"); do
      printf 'step %s of %s\n' "$i" "$arg" >>"${COORD_PROGRESS_FILE:?}"
      sleep 1
    done
    printf 'noted %s\n' "$arg"
    ;;
  tempfail)
    seen="${STUB_PID_DIR:-/tmp}/tempfail-${COORD_UPDATE_ID}"
    if [ ! -e "$seen" ]; then
      : >"$seen"
      printf 'retry-after: %s\nbusy, later please\n' "$arg"
      exit 75
    fi
    printf 'ran after waiting\n'
    ;;
  gate)
    until [ -e "${STUB_GATE_DIR:-/nonexistent}/$arg" ]; do sleep 0.02; done
    printf 'passed gate %s\n' "$arg"
    ;;
  *) printf 'echo: %s\n' "$text" ;;
esac

#!/usr/bin/env bash
# A stub brain that leaves a helper behind, for the containment tests. It first starts a helper in
# a session of its own (`setsid`: out of the brain's process group, as a daemonizing tool, tmux or
# a dev server would be) and records, in $STUB_PID_DIR, the helper's pid (helper-<update id>), its
# own (brain-<update id>) and its handler's (handler-<update id>). Then, by the message's first word:
#   hang        never answer                    umask   answer with its umask
#   hold NAME   wait for $STUB_GATE_DIR/NAME    pwd     answer with its working folder
#   anything else: echo the whole text back
set -u
text=$(cat)
update=${COORD_UPDATE_ID:-0}
setsid bash -c "echo \$\$ > '${STUB_PID_DIR}/helper-${update}.tmp' && mv '${STUB_PID_DIR}/helper-${update}.tmp' '${STUB_PID_DIR}/helper-${update}'; exec sleep 1000" </dev/null >/dev/null 2>&1 &
echo $$ >"${STUB_PID_DIR}/brain-${update}"
echo "$PPID" >"${STUB_PID_DIR}/handler-${update}"
until [ -e "${STUB_PID_DIR}/helper-${update}" ]; do sleep 0.01; done
read -r word arg _ <<<"$text"
case "$word" in
  hang) sleep 1000 ;;
  umask) printf 'umask %s\n' "$(umask)" ;;
  pwd) printf 'pwd %s\n' "$(pwd)" ;;
  hold)
    until [ -e "${STUB_GATE_DIR}/$arg" ]; do sleep 0.02; done
    printf 'held %s\n' "$arg"
    ;;
  *) printf 'echo: %s\n' "$text" ;;
esac

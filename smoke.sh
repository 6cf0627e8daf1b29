#!/usr/bin/env bash
# Smoke test for forge-coordinator (installed by Nix as `forge-coordinator smoke`).
#
#   ./smoke.sh               print the recipe to run from the phone, then check the unit's journal
#   ./smoke.sh --sim         run the same recipe against the built-in simulator (no phone, no token)
#   ./smoke.sh --journal F   check a saved journal (or any log) in file F instead of the unit's
#
# The journal check reads the last 200 lines (`journalctl -q`), tells the bot's runs in them apart
# (each begins with its "started: pid N" line), says which ones it looked at, and prints how many
# handlers were started and reaped, any "dispatch crash", any "Empty message", any update started
# twice within one run (duplicated work; one started again by a later run is the journal re-running
# what a restart cut off, and is reported as such), any handler reaped more often than it was
# started in those lines, and any line holding something shaped like a bot token (never printed).
# Exit status: 0 when healthy, 1 with the reasons otherwise, 2 for a usage error.
set -euo pipefail
cd "$(dirname "$0")"

UNIT=forge-coordinator
DENO_VERSION=2.9.6
LINES=200
TOKEN_SHAPE='[0-9]{6,}:[A-Za-z0-9_-]{30,}'
# The first line of each run of the bot (main.ts logs it once its instance lock is taken).
RUN_START='main: started: pid [0-9]+'
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

recipe() {
  cat <<'RECIPE'
Smoke recipe, from the phone (a chat with the bot, as an authorized user):
  1. Send a message, and a second one 2 seconds later.
  2. Expect 👀 on both within about a second of sending each, the second while the first is
     still being worked on.
  3. Expect both replies, in the order sent, each as a reply to its message, then 👌 on each.
  4. Expect no "Empty message" reply, and no message answered twice.
The journal summary below is the bot's side of it: run ./smoke.sh again once both 👌 arrived.

RECIPE
}

# starts FILE: "<run> <update>" for each handler started, the run counted by the start lines
# before it (0: a run that began before the first line shown).
starts() {
  awk -v start="$RUN_START" '
    $0 ~ start { run++ }
    match($0, /child started: update [0-9]+/) {
      n = split(substr($0, RSTART, RLENGTH), word, " ")
      print run + 0, word[n]
    }
  ' "$1"
}

# reaped_twice FILE: how many reaps in FILE are of a handler already reaped as often as it was
# started in it (a handler started before the first line shown may be reaped in them: not counted).
reaped_twice() {
  awk '
    match($0, /child started: .*pid [0-9]+/) {
      n = split(substr($0, RSTART, RLENGTH), word, " ")
      started[word[n]]++
    }
    match($0, /child reaped: pid [0-9]+/) {
      n = split(substr($0, RSTART, RLENGTH), word, " ")
      pid = word[n]
      if ((pid in started) && ++reaped[pid] > started[pid]) twice++
    }
    END { print twice + 0 }
  ' "$1"
}

# runs FILE: which runs of the bot the lines hold, one line each.
runs() {
  local file=$1 count
  count=$(grep -cE "$RUN_START" "$file" || true)
  if [ "$count" -eq 0 ]; then
    echo "runs: one, begun before these lines"
    return
  fi
  local earlier=""
  grep -qvE "$RUN_START" <(head -n 1 "$file") && earlier=", after the end of an earlier one"
  echo "runs: $count started in these lines$earlier; the last:"
  grep -E "$RUN_START" "$file" | tail -n 1 | sed -E "s/$TOKEN_SHAPE/[token]/g; s/^/    /"
}

# summarize FILE: prints the summary of a journal; returns 0 when healthy, 1 otherwise.
summarize() {
  local file=$1 problems=()
  local total started reaped twice crashes empties tokens duplicates reruns
  total=$(grep -cv -e '^-- No entries --$' -e '^$' "$file" || true)
  started=$(grep -c 'child started' "$file" || true)
  reaped=$(grep -c 'child reaped' "$file" || true)
  twice=$(reaped_twice "$file")
  crashes=$(grep -c 'dispatch crash' "$file" || true)
  empties=$(grep -c 'Empty message' "$file" || true)
  tokens=$(grep -cE "$TOKEN_SHAPE" "$file" || true)
  # Started twice within one run: duplicated work. In two runs: the journal's re-run.
  duplicates=$(starts "$file" | sort | uniq -d | cut -d' ' -f2 | sort -un | paste -sd, - || true)
  reruns=$(starts "$file" | sort -u | cut -d' ' -f2 | sort -n | uniq -d | paste -sd, - || true)

  echo "journal: $total line(s)"
  runs "$file"
  echo "  child started:  $started"
  echo "  child reaped:   $reaped"
  echo "  dispatch crash: $crashes"
  if [ "$crashes" -gt 0 ]; then
    grep 'dispatch crash' "$file" | tail -n 5 | sed -E "s/$TOKEN_SHAPE/[token]/g; s/^/    /"
  fi
  echo "  Empty message:  $empties"
  echo "  token-looking:  $tokens"
  if [ -n "$reruns" ]; then
    echo "  re-run after a restart: update(s) $reruns (expected: a restart cut them off, and the"
    echo "    journal ran them again; their replies say so)"
  fi

  [ "$total" -gt 0 ] || problems+=("the journal has no lines")
  [ "$crashes" -eq 0 ] || problems+=("$crashes dispatch crash line(s)")
  [ "$empties" -eq 0 ] || problems+=("$empties \"Empty message\" line(s)")
  [ "$tokens" -eq 0 ] || problems+=("$tokens line(s) hold a token-looking string")
  [ -z "$duplicates" ] || problems+=("update(s) $duplicates started more than once: duplicated work")
  if [ "$total" -gt 0 ] && [ "$started" -eq 0 ]; then
    problems+=("no handler was started in the last $LINES lines: send the two messages first")
  fi
  [ "$twice" -eq 0 ] || problems+=("$twice reap(s) of a handler already reaped as often as started")

  if [ "${#problems[@]}" -eq 0 ]; then
    echo "healthy"
    return 0
  fi
  local problem
  for problem in "${problems[@]}"; do echo "UNHEALTHY: $problem"; done
  return 1
}

# The Deno to run the simulator with: $SMOKE_DENO, else deno on PATH, else npx.
run_deno() {
  if [ -n "${SMOKE_DENO:-}" ]; then
    "$SMOKE_DENO" "$@"
  elif command -v deno >/dev/null 2>&1; then
    deno "$@"
  else
    npx -y "deno@${DENO_VERSION}" "$@"
  fi
}

sim() {
  local journal="$scratch/sim-journal" status=0
  if [ ! -f tests/smoke_sim.ts ]; then
    # `forge-coordinator smoke` runs the packaged copy, which has no tests/ folder.
    echo "--sim needs a checkout of the repository (it plays the recipe with tests/smoke_sim.ts)"
    return 2
  fi
  echo "Playing the recipe against the simulator (two messages 2 s apart, a brain that takes 3 s):"
  run_deno run --quiet --frozen --no-prompt --allow-all tests/smoke_sim.ts "$journal" || status=1
  [ -s "$journal" ] || { echo "UNHEALTHY: the bot wrote no log"; return 1; }
  echo
  summarize "$journal" || status=1
  # The simulator run ends with a clean stop, so every handler must have been reaped.
  local started reaped
  started=$(grep -c 'child started' "$journal" || true)
  reaped=$(grep -c 'child reaped' "$journal" || true)
  if [ "$started" -ne 2 ] || [ "$reaped" -ne 2 ]; then
    echo "UNHEALTHY: expected 2 handlers started and reaped, got $started and $reaped"
    status=1
  fi
  return "$status"
}

journal() {
  local file=$1
  if [ -n "$file" ]; then
    [ -r "$file" ] || { echo "UNHEALTHY: cannot read $file"; return 1; }
    summarize "$file"
    return
  fi
  if ! command -v journalctl >/dev/null 2>&1; then
    echo "UNHEALTHY: journalctl is not available here; run this on the console box"
    return 1
  fi
  local out="$scratch/journal" err="$scratch/journal-errors"
  # -q: no "Hint:" or "-- Boot" lines among the bot's own.
  if ! journalctl --user -q -u "$UNIT" -n "$LINES" --no-pager >"$out" 2>"$err"; then
    sed 's/^/  /' "$err"
    echo "UNHEALTHY: journalctl --user -q -u $UNIT -n $LINES failed"
    return 1
  fi
  # e.g. "No journal files were found.": said on stderr, with exit status 0.
  sed 's/^/  journalctl: /' "$err"
  local status=0
  summarize "$out" || status=1
  health || status=1
  return "$status"
}

# health: the poll loop's heartbeat, judged as `forge-coordinator health` judges it. The state
# folder is the unit's (systemctl knows it), unless COORD_STATE_DIR is set here.
health() {
  local state="${COORD_STATE_DIR:-}"
  if [ -z "$state" ] && command -v systemctl >/dev/null 2>&1; then
    state=$(systemctl --user show "$UNIT" -p Environment --value 2>/dev/null |
      tr ' ' '\n' | sed -n 's/^COORD_STATE_DIR=//p' | tail -n 1)
  fi
  local line
  if command -v forge-coordinator >/dev/null 2>&1; then
    line=$(COORD_STATE_DIR="$state" forge-coordinator health 2>&1) || {
      echo "UNHEALTHY: $line"
      return 1
    }
  else
    line=$(COORD_STATE_DIR="$state" run_deno task --quiet health 2>&1) || {
      echo "UNHEALTHY: $line"
      return 1
    }
  fi
  echo "health: $line"
}

mode=journal file=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sim) mode=sim ;;
    --journal)
      [ $# -ge 2 ] || { echo "usage: $0 [--sim | --journal FILE]" >&2; exit 2; }
      file=$2
      shift
      ;;
    -h | --help)
      sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) echo "usage: $0 [--sim | --journal FILE]" >&2; exit 2 ;;
  esac
  shift
done

if [ "$mode" = sim ]; then
  sim
else
  [ -n "$file" ] || recipe
  journal "$file"
fi

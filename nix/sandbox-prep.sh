# Makes a copy of the project runnable where there is no /usr/bin/env (the Nix build sandbox):
# run in the copy's root, after nixpkgs' patchShebangs if there is one, with the tools on PATH.
#
#   1. "#!/usr/bin/env <program>" first lines become "#!<program's path on PATH>";
#   2. any other "/usr/bin/env" (a test that runs it, a unit file's ExecStart=) becomes env's path
#      on PATH;
#   3. then any "/usr/bin/env" left is an error, named with its file and line.
#
# tests/packaging_test.ts runs this on a copy of the project and then runs a test file with
# /usr/bin/env hidden; flake.nix runs it before the `test` check.
set -euo pipefail

env_path=$(command -v env) || {
  echo "sandbox-prep: no env on PATH" >&2
  exit 1
}

# Text files only (-I), outside .git and node_modules, and not this script (which names it).
skip="--exclude-dir=.git --exclude-dir=node_modules --exclude=sandbox-prep.sh"
files() {
  # shellcheck disable=SC2086 # $skip is several options
  grep -rlI $skip "$1" . || true
}

while IFS= read -r file; do
  [ -n "$file" ] || continue
  first=$(head -n 1 "$file")
  case "$first" in
    '#!/usr/bin/env '*)
      program=$(sed -E 's|^#!/usr/bin/env +([^ ]+).*$|\1|' <<<"$first")
      if path=$(command -v "$program"); then
        sed -i -E "1s|^#!/usr/bin/env +$program|#!$path|" "$file"
      fi
      ;;
  esac
done < <(files '^#!/usr/bin/env')

while IFS= read -r file; do
  [ -n "$file" ] || continue
  # A shebang whose program isn't on PATH stays as it is, and fails below with its name.
  if head -n 1 "$file" | grep -q '^#!/usr/bin/env'; then continue; fi
  sed -i "s|/usr/bin/env|$env_path|g" "$file"
done < <(files '/usr/bin/env')

# shellcheck disable=SC2086
if left=$(grep -rnI $skip '/usr/bin/env' .); then
  echo "sandbox-prep: /usr/bin/env is still used (the Nix sandbox has none):" >&2
  printf '%s\n' "$left" >&2
  exit 1
fi

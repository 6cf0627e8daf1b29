# The bot as one command, `forge-coordinator`: nixpkgs' Deno running the source from the store
# with the same flags as `deno task start` (read from deno.json by ./project.nix).
#
# The npm packages are not in the store: on its first run Deno fetches exactly the versions
# deno.lock pins, checks them against the lock's integrity hashes, and keeps them in a writable
# DENO_DIR under the user's cache; `--frozen` (from deno.json's start task) makes any difference
# from the lock an error instead of an update. Later runs start offline from that cache.
{
  deno,
  writeShellApplication,
  project ? import ./project.nix { },
}:
let
  escape = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
  src = project.runtimeSource;
  flags = builtins.concatStringsSep " " (map escape project.startFlags);
in
assert
  builtins.compareVersions deno.version project.denoMinVersion >= 0
  || throw "forge-coordinator needs Deno ${project.denoMinVersion} or newer; this nixpkgs has ${deno.version}: update the flake's nixpkgs input, or override `deno`";
writeShellApplication {
  name = "forge-coordinator";
  text = ''
    # Deno's module cache must be writable: the store isn't. An existing DENO_DIR is respected.
    export DENO_DIR="''${DENO_DIR:-''${XDG_CACHE_HOME:-$HOME/.cache}/forge-coordinator/deno}"
    export DENO_NO_UPDATE_CHECK=1
    # `exec`, so that under systemd the main process is the poll loop itself.
    exec ${deno}/bin/deno run ${flags} --config=${src}/deno.json ${src}/${project.startScript} "$@"
  '';
  meta = {
    description = "Telegram bot that hands each message to an AI agent without ever blocking its poll loop";
    mainProgram = "forge-coordinator";
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
}

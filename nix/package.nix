# The bot as one command, `forge-coordinator`: nixpkgs' Deno running the source from the store
# with the same flags as `deno task start` (read from deno.json by ./project.nix), and its npm
# packages in the store too, so that it never asks a registry for code, at its first start or
# any later one.
#
# The npm packages: one fetchurl per tarball that deno.lock pins, checked against the lock's
# sha512 integrity (./npm-deps.nix reads them from the lock; no hash is kept by hand), unpacked
# into a node_modules folder laid out as Deno lays one out. The packaged deno.json says
# `"nodeModulesDir": "manual"`, so Deno takes that folder as it is, and `--cached-only` turns any
# package missing from it into an error instead of a download.
#
#   forge-coordinator            the bot (configured by the environment)
#   forge-coordinator health     the heartbeat check
#   forge-coordinator smoke      smoke.sh: the journal check (see the README)
#   forge-coordinator send …     a message from the box, through the spool (no network, no token)
#   forge-coordinator ask …      a prompt for the brain, through the spool (the same)
{
  lib,
  deno,
  nodejs,
  cacert,
  runCommand,
  fetchurl,
  writeShellApplication,
  project ? import ./project.nix { },
  # Root URL of an npm registry (a mirror) to fetch the tarballs from, as npm writes it (what
  # `npm config get registry` prints). null: ./project.nix's (NPM_CONFIG_REGISTRY with --impure),
  # else npm's own default: its public registry, which this repository doesn't name.
  npmRegistry ? project.npmRegistry,
}:
let
  escape = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
  flags = builtins.concatStringsSep " " (map escape (project.startFlags ++ [ "--cached-only" ]));
  boxFlags = builtins.concatStringsSep " " (map escape (project.boxFlags ++ [ "--cached-only" ]));
  inherit (project) npm;

  registry =
    if npmRegistry == null then
      null
    else
      let
        trimmed = builtins.match "(.*[^/])/*" npmRegistry;
      in
      if trimmed == null then throw "npmRegistry: not a URL: \"${npmRegistry}\"" else builtins.head trimmed;

  # One tarball, by deno.lock's integrity: from the registry given, with fetchurl; else with
  # nixpkgs' npm, which asks its default registry (npm's public one) and writes the very tarball
  # the registry serves (`npm pack <name>@<version>`). Either is a fixed output: Nix checks it
  # against the lock's sha512, and a store or binary cache that has it serves it without asking.
  tarball =
    p:
    let
      name = "${builtins.replaceStrings [ "@" "/" ] [ "" "-" ] p.name}-${p.version}.tgz";
    in
    if registry != null then
      fetchurl {
        inherit name;
        url = "${registry}/${p.tarball}";
        hash = p.integrity;
      }
    else
      runCommand name
        {
          nativeBuildInputs = [ nodejs ];
          outputHashMode = "flat";
          outputHash = p.integrity;
          impureEnvVars = lib.fetchers.proxyImpureEnvVars;
          NODE_EXTRA_CA_CERTS = "${cacert}/etc/ssl/certs/ca-bundle.crt";
        }
        ''
          export HOME="$TMPDIR" npm_config_cache="$TMPDIR/npm-cache" npm_config_update_notifier=false
          mkdir "$TMPDIR/packed"
          npm pack --ignore-scripts --loglevel=warn --pack-destination "$TMPDIR/packed" ${escape "${p.name}@${p.version}"} >/dev/null ||
            { echo "forge-coordinator: npm could not fetch ${p.key} from its registry; give the modules' npmRegistry (a mirror) or NPM_CONFIG_REGISTRY with --impure (the README says how)" >&2; exit 1; }
          mv "$TMPDIR"/packed/*.tgz "$out"
        '';

  # The source, the packaged deno.json and deno.lock, and node_modules, in one folder.
  app =
    runCommand "forge-coordinator-app"
      {
        denoJson = builtins.toJSON npm.runtimeDenoJson;
        denoLock = builtins.toJSON npm.runtimeLock;
        passAsFile = [
          "denoJson"
          "denoLock"
        ];
      }
      ''
        mkdir -p "$out"
        cp -r ${project.runtimeSource}/. "$out/"
        chmod -R u+w "$out"
        cp "$denoJsonPath" "$out/deno.json"
        cp "$denoLockPath" "$out/deno.lock"
        cp ${../smoke.sh} "$out/smoke.sh"
        chmod +x "$out/smoke.sh"
        patchShebangs "$out/smoke.sh"
        cd "$out"
        ${npm.layoutScript tarball}
      '';
in
assert
  builtins.compareVersions deno.version project.denoMinVersion >= 0
  || throw "forge-coordinator needs Deno ${project.denoMinVersion} or newer; this nixpkgs has ${deno.version}: update the flake's nixpkgs input, or override `deno`";
writeShellApplication {
  name = "forge-coordinator";
  text = ''
    # Deno's own caches (compiled TypeScript, and the like) must be writable: the store isn't. No
    # npm package is fetched into it: they are all in the store. An existing DENO_DIR is respected.
    export DENO_DIR="''${DENO_DIR:-''${XDG_CACHE_HOME:-$HOME/.cache}/forge-coordinator/deno}"
    export DENO_NO_UPDATE_CHECK=1
    if [ "''${1:-}" = smoke ]; then
      shift
      export SMOKE_DENO=${deno}/bin/deno
      exec ${app}/smoke.sh "$@"
    fi
    # `send` and `ask` only write the spool: the narrower flags of `deno task send`, no network.
    if [ "''${1:-}" = send ] || [ "''${1:-}" = ask ]; then
      exec ${deno}/bin/deno run ${boxFlags} --config=${app}/deno.json ${app}/${project.startScript} "$@"
    fi
    # `exec`, so that under systemd the main process is the poll loop itself.
    exec ${deno}/bin/deno run ${flags} --config=${app}/deno.json ${app}/${project.startScript} "$@"
  '';
  passthru = {
    inherit app npmRegistry;
    npmTarballs = map tarball npm.packages;
  };
  meta = {
    description = "Telegram bot that hands each message to an AI agent without ever blocking its poll loop";
    mainProgram = "forge-coordinator";
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
}

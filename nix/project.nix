# Facts about the project read from its own files, in pure Nix (builtins only, no nixpkgs), so that
# tests/packaging_test.ts can evaluate them offline with `nix-instantiate --eval`.
{
  # The project's root folder.
  root ? ../.,
}:
let
  denoJson = builtins.fromJSON (builtins.readFile (root + "/deno.json"));
  denoLock = builtins.fromJSON (builtins.readFile (root + "/deno.lock"));

  # `deno task start` as words: "deno" "run" <flags...> <script>.
  startTask = denoJson.tasks.start;
  words = builtins.filter (w: builtins.isString w && w != "") (builtins.split "[[:space:]]+" startTask);
  count = builtins.length words;
  script = builtins.elemAt words (count - 1);
  flags = builtins.genList (i: builtins.elemAt words (i + 2)) (count - 3);
  isFlag = w: builtins.substring 0 2 w == "--";
  wellFormed =
    count >= 3
    && builtins.elemAt words 0 == "deno"
    && builtins.elemAt words 1 == "run"
    && builtins.all isFlag flags
    && !(isFlag script);

  # `deno task send` as words: "deno" "run" <flags...> <script> "send": the flags `send` and `ask`
  # run with (no network, no token; `deno task ask` has the same).
  sendWords = builtins.filter (w: builtins.isString w && w != "") (
    builtins.split "[[:space:]]+" denoJson.tasks.send
  );
  boxFlags = builtins.genList (i: builtins.elemAt sendWords (i + 2)) (builtins.length sendWords - 4);

  # What the bot needs at run time: the entry points, lib/, the import map and the lock. Tests,
  # docs and packaging stay out, so editing them doesn't change the package.
  runtimeFiles = [
    "deno.json"
    "deno.lock"
    "main.ts"
    "handler.ts"
  ];
  isRuntimeFile =
    rel: type:
    builtins.elem rel runtimeFiles
    || rel == "lib"
    || (builtins.substring 0 4 rel == "lib/" && (type == "directory" || builtins.match ".*\\.ts" rel != null));
in
assert
  builtins.all isFlag boxFlags && builtins.elemAt sendWords (builtins.length sendWords - 1) == "send"
  || throw "deno.json: tasks.send must read \"deno run <--flags...> main.ts send\", got \"${denoJson.tasks.send}\"";
assert
  wellFormed
  || throw "deno.json: tasks.start must read \"deno run <--flags...> <script>\", got \"${startTask}\"";
{
  # The flags of `deno task start` (permissions, --frozen, --no-prompt), in order.
  startFlags = flags;

  # The script `deno task start` runs, relative to the project root.
  startScript = script;

  # The flags of `deno task send` and `deno task ask` (no --allow-net), in order.
  inherit boxFlags;

  # The oldest Deno the bot is known to run on: the version CI and the README pin (.ci/run's
  # DENO_VERSION; a test keeps the two equal). Older ones may not do: deno.json's unstable
  # "no-legacy-abort" is honoured from deno.json only since Deno 2.9.5 (denoland/deno#36312).
  denoMinVersion = "2.9.6";

  # deno.lock's format version and its npm packages (name@version), pinned with integrity hashes.
  lockVersion = denoLock.version;
  npmPackages = builtins.attrNames (denoLock.npm or { });

  # The npm packages the bot runs with, where they go in node_modules, and the deno.json and
  # deno.lock the package runs with (see ./npm-deps.nix).
  npm = import ./npm-deps.nix { inherit root; };

  # The npm registry the package's tarballs are fetched from (`nix build` fetches each one once,
  # checked against deno.lock's sha512): NPM_CONFIG_REGISTRY, the variable npm and Deno read too,
  # seen only by an impure evaluation (`--impure`); otherwise null, and the package must be given
  # one (`npmRegistry`, or the modules' option of that name). This repository names no registry.
  npmRegistry =
    let
      fromEnv = builtins.getEnv "NPM_CONFIG_REGISTRY";
    in
    if fromEnv == "" then null else fromEnv;

  # Whether a file or folder (its path relative to the root, and its type as builtins.readDir
  # gives it) is part of runtimeSource.
  inherit isRuntimeFile;

  # The files the bot runs from, copied to the store on their own.
  runtimeSource = builtins.path {
    path = root;
    name = "forge-coordinator-source";
    filter =
      path: type:
      isRuntimeFile (builtins.substring (builtins.stringLength (toString root) + 1) (-1) (toString path)) type;
  };
}

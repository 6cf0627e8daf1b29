# The npm packages the bot runs with, read from deno.lock in pure Nix (builtins only), so that
# tests/packaging_test.ts can evaluate it offline with `nix-instantiate --eval`.
#
# Which packages: the import-map entries of deno.json that the bot's own files (main.ts,
# handler.ts, lib/) name, and everything they depend on in deno.lock. An entry only the benchmark
# or the tests use (`@grammyjs/runner`) stays out.
#
# Where they go: a `node_modules` folder laid out as Deno lays one out itself
# (`deno install` with `"nodeModulesDir": "auto"`), which Deno reads as it is when deno.json says
# `"nodeModulesDir": "manual"`:
#
#   node_modules/.deno/<name with / as +>@<version>/node_modules/<name>/   the package (tarball)
#   node_modules/.deno/<...>/node_modules/<dependency>  ->  ../../<dep folder>/node_modules/<dep>
#   node_modules/<name>  ->  .deno/<folder>/node_modules/<name>            each direct dependency
#
# With that folder and an empty Deno cache, Deno 2.9 starts the bot without asking the registry
# (tests/packaging_test.ts runs it so).
{
  # The project's root folder.
  root ? ../.,
}:
let
  denoJson = builtins.fromJSON (builtins.readFile (root + "/deno.json"));
  lock = builtins.fromJSON (builtins.readFile (root + "/deno.lock"));
  npm = lock.npm or { };
  specifiers = lock.specifiers or { };

  # The text of every file the bot runs (main.ts, handler.ts, and lib/'s .ts files, one folder
  # deep: lib/loop, lib/handler, lib/shared).
  tsIn = dir: map (n: "${dir}/${n}") (
    builtins.filter (n: builtins.match ".*\\.ts" n != null) (builtins.attrNames (builtins.readDir (root + "/${dir}")))
  );
  libEntries = builtins.readDir (root + "/lib");
  libDirs = builtins.filter (n: libEntries.${n} == "directory") (builtins.attrNames libEntries);
  libFiles = tsIn "lib" ++ builtins.concatLists (map (d: tsIn "lib/${d}") libDirs);
  sourceText = builtins.concatStringsSep "\n" (
    map (f: builtins.readFile (root + "/${f}")) ([ "main.ts" "handler.ts" ] ++ libFiles)
  );
  # An import-map key is used at run time when a source file imports it: "key" or "key/sub".
  specials = [ "\\" "." "+" "*" "?" "(" ")" "[" "]" "{" "}" "|" "^" "$" ];
  quote = builtins.replaceStrings specials (map (c: "\\${c}") specials);
  used = key: builtins.length (builtins.split "[\"']${quote key}[\"'/]" sourceText) > 1;
  imports = denoJson.imports or { };
  isNpm = value: builtins.substring 0 4 value == "npm:";
  runtimeImports = builtins.filter (k: isNpm imports.${k} && used k) (builtins.attrNames imports);
  unusedImports = builtins.filter (k: !(builtins.elem k runtimeImports)) (builtins.attrNames imports);

  # "npm:@scope/name@1.2.3/sub" -> "npm:@scope/name@1.2.3" (the key of deno.lock's specifiers).
  specifierOf =
    value:
    let
      m = builtins.match "(npm:(@[^/]+/)?[^/@]+@[^/]+)(/.*)?" value;
    in
    if m == null then throw "deno.json: cannot read the npm import \"${value}\"" else builtins.head m;

  # "@scope/name@1.2.3_peer@4.5.6" -> { name = "@scope/name"; version = "1.2.3"; }
  parseKey =
    key:
    let
      m = builtins.match "(@?[^@]+)@([^_]+)(_.*)?" key;
    in
    if m == null then
      throw "deno.lock: cannot read the npm package \"${key}\""
    else
      {
        name = builtins.elemAt m 0;
        version = builtins.elemAt m 1;
      };

  # The lock key a specifier resolves to: its name and the version (and peers) the lock pinned.
  keyOfSpecifier =
    specifier:
    let
      resolved = specifiers.${specifier} or (throw "deno.lock has no entry for ${specifier}");
      name = (parseKey (builtins.substring 4 (-1) specifier)).name;
    in
    "${name}@${resolved}";

  # A dependency as deno.lock writes it: "name" when the lock holds one version of it, else
  # "name@version[_peers]".
  keyOfDependency =
    dependency:
    if npm ? ${dependency} then
      dependency
    else
      let
        candidates = builtins.filter (k: (parseKey k).name == dependency) (builtins.attrNames npm);
      in
      if builtins.length candidates == 1 then
        builtins.head candidates
      else
        throw "deno.lock: cannot tell which \"${dependency}\" is meant (${toString candidates})";

  roots = map (k: keyOfSpecifier (specifierOf imports.${k})) runtimeImports;

  closure = builtins.genericClosure {
    startSet = map (key: { inherit key; }) roots;
    operator = { key }: map (d: { key = keyOfDependency d; }) (npm.${key}.dependencies or [ ]);
  };
  keys = builtins.sort builtins.lessThan (map (e: e.key) closure);

  folderOf =
    key:
    let
      p = parseKey key;
    in
    ".deno/${builtins.replaceStrings [ "/" ] [ "+" ] p.name}@${p.version}";

  package =
    key:
    let
      p = parseKey key;
      # "@scope/name" -> "name": npm names a tarball after the unscoped name.
      base = builtins.baseNameOf p.name;
      integrity = npm.${key}.integrity or (throw "deno.lock: no integrity for ${key}");
    in
    assert
      builtins.substring 0 7 integrity == "sha512-"
      || throw "deno.lock: ${key} has no sha512 integrity (got \"${integrity}\")";
    {
      inherit key integrity;
      inherit (p) name version;
      # Under the registry's root URL.
      tarball = "${p.name}/-/${base}-${p.version}.tgz";
      # Where the tarball's contents go, under node_modules.
      dir = "${folderOf key}/node_modules/${p.name}";
      # Symlinks beside it, to each dependency: { link (under node_modules); target (relative) }.
      links = map (
        d:
        let
          dk = keyOfDependency d;
          dn = (parseKey dk).name;
          # From .deno/<folder>/node_modules/<dep name>, up to node_modules/.deno.
          up = if builtins.match "@.*" dn != null then "../../.." else "../..";
        in
        {
          link = "${folderOf key}/node_modules/${dn}";
          target = "${up}/${builtins.baseNameOf (folderOf dk)}/node_modules/${dn}";
        }
      ) (npm.${key}.dependencies or [ ]);
    };

  packages = map package keys;

  # node_modules/<name> -> .deno/<folder>/node_modules/<name>, for each direct dependency.
  topLinks = map (
    key:
    let
      n = (parseKey key).name;
    in
    {
      link = n;
      target = "${if builtins.match "@.*" n != null then "../" else ""}${folderOf key}/node_modules/${n}";
    }
  ) (builtins.sort builtins.lessThan (builtins.attrNames (builtins.listToAttrs (map (k: { name = k; value = null; }) roots))));

  # Every package's folder must be its own (Deno would number a second copy of one version).
  folders = map (p: p.dir) packages;
  uniqueFolders =
    builtins.length folders
    == builtins.length (builtins.attrNames (builtins.listToAttrs (map (f: { name = f; value = null; }) folders)))
    || throw "deno.lock: two packages of the same name and version (peer variants) are not supported";

  sh = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
  linkCommand = l: "mkdir -p \"$(dirname ${sh l.link})\" && ln -s ${sh l.target} ${sh l.link}";

  # Shell commands that lay out node_modules in the current folder, given where each package's
  # tarball is (`tarballOf package`, a path). The package build and the test run the same text.
  layoutScript =
    tarballOf:
    assert uniqueFolders;
    builtins.concatStringsSep "\n" (
      [
        "set -eu"
        "mkdir -p node_modules && cd node_modules"
      ]
      ++ map (
        p:
        "mkdir -p ${sh p.dir} && tar -xzf ${sh (toString (tarballOf p))} -C ${sh p.dir} --strip-components=1 --no-same-owner"
      ) packages
      ++ [ "chmod -R u+rwX,go+rX ." ]
      ++ builtins.concatMap (p: map linkCommand p.links) packages
      ++ map linkCommand topLinks
      ++ [ "" ]
    );

  # deno.json and deno.lock as the packaged bot reads them: without the imports it doesn't use,
  # and with `nodeModulesDir = "manual"` so that Deno takes node_modules as it is. `--frozen`
  # still checks the two against each other.
  runtimeSpecifiers = map (k: specifierOf imports.${k}) runtimeImports;
  runtimeDenoJson = denoJson // {
    imports = removeAttrs imports unusedImports;
    nodeModulesDir = "manual";
  };
  runtimeLock = lock // {
    specifiers = builtins.listToAttrs (
      map (s: { name = s; value = specifiers.${s}; }) runtimeSpecifiers
    );
    npm = builtins.listToAttrs (map (k: { name = k; value = npm.${k}; }) keys);
  } // (
    if lock ? workspace then
      {
        workspace = lock.workspace // {
          dependencies = builtins.filter (d: builtins.elem d runtimeSpecifiers) (
            lock.workspace.dependencies or [ ]
          );
        };
      }
    else
      { }
  );
in
{
  # The import-map keys the bot's files use, and the ones they don't (left out of the package).
  inherit runtimeImports unusedImports;
  # deno.lock's keys of every npm package the bot needs, sorted.
  inherit keys;
  # Each as { key name version integrity tarball dir links }.
  inherit packages;
  # node_modules/<name> links for the direct dependencies.
  inherit topLinks;
  # The deno.json and deno.lock the package runs with (attribute sets; builtins.toJSON them).
  inherit runtimeDenoJson runtimeLock;
  # tarballOf -> the shell commands that lay out node_modules (see above).
  inherit layoutScript;
}

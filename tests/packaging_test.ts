/**
 * Packaging: the flake and its pure Nix logic, the systemd unit, the home-manager module's unit and
 * smoke.sh. Nix, systemd-analyze and shellcheck are not part of Deno: `.ci/run` installs them. A
 * step whose tool is missing fails when `CI` is set, and is ignored otherwise, so that
 * `deno task test` still runs on a machine with only Node and npm.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseConfig } from "../lib/shared/config.ts";
import {
  BotApiSimulator,
  botEnv,
  BotProcess,
  denoDir as denoDirOf,
  messageIdOf,
  projectPath,
  repliedTo,
  tempDir,
} from "./_helpers.ts";
import {
  assertOk,
  needs,
  NIX_ENV,
  nixEval,
  nixPath,
  packageExpression,
  run,
  which,
} from "./_packaging.ts";

const denoJson = JSON.parse(Deno.readTextFileSync(projectPath("deno.json")));
const denoLock = JSON.parse(Deno.readTextFileSync(projectPath("deno.lock")));

/** A unit file as { section: { key: [values...] } }, comments and blank lines dropped. */
type Unit = Record<string, Record<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = line.match(/^\[(.+)\]$/);
    if (header) {
      section = unit[header[1]] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(section && eq > 0, `Cannot parse unit line: "${line}"`);
    (section[line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return unit;
}

/** home-manager's rendering of `systemd.user.services.<name>`: a list value repeats its key. */
function renderUnit(unit: Record<string, Record<string, string | string[]>>): string {
  return Object.entries(unit).map(([section, keys]) =>
    `[${section}]\n` +
    Object.entries(keys).flatMap(([key, value]) =>
      (Array.isArray(value) ? value : [value]).map((v) => `${key}=${v}\n`)
    ).join("")
  ).join("\n");
}

/** nix/settings.nix: each option's variable, default, and its default as the bot reads it. */
async function settingsTable(): Promise<
  Record<string, { variable: string; default?: unknown; rendered: string | null }>
> {
  return await nixEval(`
    let
      lib = import ${nixPath("tests/nix-stand-in/lib.nix")};
      settings = import ${nixPath("nix/settings.nix")} { inherit lib; };
      render = s: v: if s ? render then s.render v else if builtins.isFloat v then builtins.toJSON v else toString v;
    in
    builtins.mapAttrs (_: s: { inherit (s) variable; }
      // (if s ? default && s.default != null && s.default != [ ]
        then { inherit (s) default; rendered = render s s.default; }
        else { default = s.default or null; rendered = null; })
    ) settings
  `) as Record<string, { variable: string; default?: unknown; rendered: string | null }>;
}

/** The unit the home-manager module renders, evaluated with a stand-in `lib`. */
async function moduleUnit(
  settings: Record<string, unknown> = {},
): Promise<{
  defaults: Record<string, unknown>;
  unit: Record<string, Record<string, string | string[]>>;
}> {
  return await nixEval(`
    let
      lib = import ${nixPath("tests/nix-stand-in/lib.nix")};
      pkg = {
        outPath = "/nix/store/00000000000000000000000000000000-forge-coordinator";
        meta.mainProgram = "forge-coordinator";
      };
      pkgs = { stdenv.hostPlatform.system = "x86_64-linux"; };
      module = import ${
    nixPath("nix/home-manager.nix")
  } { self.packages.x86_64-linux.default = pkg; };
      options = (module { config = { }; inherit lib pkgs; }).options.services.forge-coordinator;
      defaults = builtins.mapAttrs (_: o: o.default or null) options;
      cfg = defaults // {
        enable = true;
        package = pkg;
        tokenFile = "/home/me/.config/forge-coordinator/token";
        authorizedUserIds = [ 1 2 ];
      } // builtins.fromJSON ${JSON.stringify(JSON.stringify(settings)).replaceAll("${", "\\${")};
      home = { profileDirectory = "/home/me/.nix-profile"; homeDirectory = "/home/me"; };
      out = module { config = { services.forge-coordinator = cfg; inherit home; }; inherit lib pkgs; };
    in
    {
      defaults = removeAttrs defaults [ "package" ];
      unit = out.config.content.systemd.user.services.forge-coordinator;
    }
  `) as { defaults: Record<string, unknown>; unit: Record<string, Record<string, string[]>> };
}

Deno.test({
  name: "flake.nix and every Nix file parse",
  ignore: needs("nix-instantiate"),
  async fn() {
    const files = ["flake.nix", "tests/nix-stand-in/flake.nix", "tests/nix-stand-in/lib.nix"];
    for (const entry of Deno.readDirSync(projectPath("nix"))) {
      if (entry.name.endsWith(".nix")) files.push(`nix/${entry.name}`);
    }
    for (const file of files) {
      assertOk(await run("nix-instantiate", ["--parse", file], { env: NIX_ENV }), file);
    }
  },
});

Deno.test({
  name:
    "nix/project.nix reads the start flags from deno.json, the npm packages from deno.lock, and pins the Deno of .ci/run",
  ignore: needs("nix-instantiate"),
  async fn() {
    const project = await nixEval(
      `removeAttrs (import ${
        nixPath("nix/project.nix")
      } { }) [ "runtimeSource" "isRuntimeFile" "npm" "npmRegistry" ]`,
    ) as Record<string, unknown>;
    const words = String(denoJson.tasks.start).split(/\s+/);
    assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
    assert.deepEqual(project.startFlags, words.slice(2, -1));
    assert.equal(project.startScript, words.at(-1));
    assert.ok((project.startFlags as string[]).includes("--frozen"), "runs with --frozen");
    assert.deepEqual(project.npmPackages, Object.keys(denoLock.npm).sort());
    assert.equal(project.lockVersion, denoLock.version);
    const ciVersion = Deno.readTextFileSync(projectPath(".ci/run")).match(/^DENO_VERSION=(.+)$/m);
    assert.equal(project.denoMinVersion, ciVersion?.[1]);
  },
});

Deno.test({
  name: "the package's source holds what the bot runs from and nothing else",
  ignore: needs("nix-instantiate"),
  async fn() {
    // Every file and folder of the checkout (but .git), as builtins.readDir names their types.
    const entries: { rel: string; type: string }[] = [];
    const walk = (dir: string) => {
      for (const entry of Deno.readDirSync(projectPath(dir))) {
        const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
        if (rel === ".git") continue;
        entries.push({
          rel,
          type: entry.isDirectory ? "directory" : entry.isFile ? "regular" : "symlink",
        });
        if (entry.isDirectory) walk(rel);
      }
    };
    walk("");
    const kept = await nixEval(`
      let inherit (import ${nixPath("nix/project.nix")} { }) isRuntimeFile; in
      builtins.filter (e: isRuntimeFile e.rel e.type)
        (builtins.fromJSON ${JSON.stringify(JSON.stringify(entries))})
    `) as { rel: string }[];
    // lib/'s process folders and their modules.
    const libFiles = entries.filter((e) =>
      /^lib\/[^/]+$/.test(e.rel) && e.type === "directory" || /^lib\/.+\.ts$/.test(e.rel)
    ).map((e) => e.rel);
    assert.deepEqual(
      kept.map((e) => e.rel).sort(),
      ["deno.json", "deno.lock", "handler.ts", "lib", "main.ts", ...libFiles].sort(),
    );
  },
});

Deno.test({
  name:
    "the package runs main.ts from the store with deno.json's start flags and --cached-only, and refuses a Deno older than the pinned one",
  ignore: needs("nix-instantiate"),
  async fn(t) {
    await t.step("with the pinned Deno", async () => {
      const app = await nixEval(
        `let p = ${
          packageExpression("2.9.6")
        }; in { inherit (p) name text meta; app = p.passthru.app.script; }`,
      ) as { name: string; text: string; meta: { mainProgram: string }; app: string };
      assert.equal(app.name, "forge-coordinator");
      assert.equal(app.meta.mainProgram, "forge-coordinator");
      const flags = [...String(denoJson.tasks.start).split(/\s+/).slice(2, -1), "--cached-only"];
      const quoted = flags.map((f) => `'${f}'`).join(" ");
      assert.match(
        app.text,
        new RegExp(
          `exec /nix/store/0+-deno/bin/deno run ${quoted.replaceAll("=", "\\=")} ` +
            `--config=/nix/store/0+-forge-coordinator-app/deno.json ` +
            `/nix/store/0+-forge-coordinator-app/main.ts "\\$@"`,
        ),
      );
      assert.match(app.text, /export DENO_DIR=/);
      assert.match(app.text, /exec \/nix\/store\/0+-forge-coordinator-app\/smoke.sh "\$@"/);
      // The folder: the source, then node_modules laid out from the fetched tarballs.
      assert.match(app.app, /cp -r \/nix\/store\/\w+-forge-coordinator-source\/\. "\$out\/"/);
      assert.match(app.app, /tar -xzf '\/nix\/store\/0+-grammy-1\.46\.0\.tgz'/);
    });
    await t.step(
      "one fetchurl per package, with deno.lock's sha512 and the registry given",
      async () => {
        const tarballs = await nixEval(
          `map (f: { inherit (f) url hash name; }) (${
            packageExpression("2.9.6")
          }).passthru.npmTarballs`,
        ) as { url: string; hash: string }[];
        const keys = await nixEval(`(import ${nixPath("nix/npm-deps.nix")} { }).keys`) as string[];
        assert.equal(tarballs.length, keys.length);
        for (const [i, key] of keys.entries()) {
          assert.equal(tarballs[i].hash, denoLock.npm[key].integrity, key);
          // npm's tarball URL: <registry>/<name>/-/<name without its scope>-<version>.tgz
          const [, name, version] = key.match(/^(@?[^@]+)@([^_]+)/)!;
          const url = `https://npm.example/r/${name}/-/${name.split("/").at(-1)}-${version}.tgz`;
          assert.equal(tarballs[i].url, url, key);
        }
        assert.ok(keys.some((k) => k.startsWith("@")), "a scoped package is among them");
      },
    );
    await t.step(
      "without a registry: the same fixed outputs, fetched by nixpkgs' npm from its default registry",
      async () => {
        const tarballs = await nixEval(
          `map (f: { inherit (f) outputHash script nativeBuildInputs impureEnvVars; }) (${
            packageExpression("2.9.6", null)
          }).passthru.npmTarballs`,
        ) as {
          outputHash: string;
          script: string;
          nativeBuildInputs: string[];
          impureEnvVars: string[];
        }[];
        const deps = await npmDeps();
        assert.equal(tarballs.length, deps.packages.length);
        for (const [i, t] of tarballs.entries()) {
          const p = deps.packages[i];
          assert.equal(t.outputHash, p.integrity, p.key);
          // npm's own default registry: no registry named here (and none in the repository).
          assert.ok(
            t.script.includes(`--pack-destination "$TMPDIR/packed" '${p.name}@${p.version}'`),
            t.script,
          );
          assert.doesNotMatch(t.script, /https?:\/\/|registry=/);
          // (A derivation is its outPath in JSON.)
          assert.deepEqual(t.nativeBuildInputs, [
            "/nix/store/00000000000000000000000000000000-nodejs",
          ]);
          assert.ok(t.impureEnvVars.includes("https_proxy"), "a proxy reaches npm");
        }
      },
    );
    await t.step("with an older Deno", async () => {
      const result = await run(
        "nix-instantiate",
        ["--eval", "--strict", "-E", `(${packageExpression("2.9.5")}).text`],
        { env: NIX_ENV },
      );
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /needs Deno 2\.9\.6 or newer; this nixpkgs has 2\.9\.5/);
    });
  },
});

/** What nix/npm-deps.nix makes of deno.json and deno.lock. */
interface NpmDeps {
  runtimeImports: string[];
  unusedImports: string[];
  keys: string[];
  packages: { key: string; name: string; version: string; integrity: string; tarball: string }[];
  topLinks: { link: string; target: string }[];
  runtimeDenoJson: Record<string, unknown>;
  runtimeLock: { npm: Record<string, unknown> };
}

async function npmDeps(): Promise<NpmDeps> {
  return await nixEval(
    `removeAttrs (import ${nixPath("nix/npm-deps.nix")} { }) [ "layoutScript" ]`,
  ) as NpmDeps;
}

/** The lock keys a set of lock keys depends on, themselves included. */
function lockClosure(roots: string[]): Set<string> {
  const names = (key: string) => key.slice(0, key.indexOf("@", 1));
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const key = todo.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const dep of denoLock.npm[key]?.dependencies ?? []) {
      todo.push(
        dep in denoLock.npm ? dep : Object.keys(denoLock.npm).find((k) => names(k) === dep)!,
      );
    }
  }
  return seen;
}

/** deno.lock's key for an npm import of deno.json ("npm:grammy@1.46.0/web" -> "grammy@1.46.0"). */
function lockKeyOfImport(value: string): string {
  const specifier = value.match(/^(npm:(?:@[^/]+\/)?[^/@]+@[^/]+)/)![1];
  const name = specifier.slice(4, specifier.lastIndexOf("@"));
  return `${name}@${denoLock.specifiers[specifier]}`;
}

Deno.test({
  name:
    "nix/npm-deps.nix covers every npm package of deno.lock: the bot's own in the package, the rest needed only by imports the bot doesn't use",
  ignore: needs("nix-instantiate"),
  async fn() {
    const deps = await npmDeps();
    const imports = denoJson.imports as Record<string, string>;
    // What the bot's files really import, as Deno's module graph has it.
    const graph = await run(Deno.execPath(), ["info", "--json", "main.ts"], {
      env: { NO_COLOR: "1" },
    });
    assertOk(graph, "deno info main.ts");
    const handler = await run(Deno.execPath(), ["info", "--json", "handler.ts"]);
    assertOk(handler, "deno info handler.ts");
    const npmRoots = new Set<string>();
    for (const out of [graph.stdout, handler.stdout]) {
      for (const module of JSON.parse(out).modules) {
        if (module.kind === "npm") npmRoots.add(module.npmPackage);
      }
    }
    const runtimeRoots = deps.runtimeImports.map((k) => lockKeyOfImport(imports[k]));
    assert.deepEqual([...new Set(runtimeRoots)].sort(), [...npmRoots].sort());
    assert.deepEqual(deps.keys, [...lockClosure(runtimeRoots)].sort());
    // Every package of the lock is either in the package or needed only by an unused import.
    const unused = lockClosure(deps.unusedImports.map((k) => lockKeyOfImport(imports[k])));
    for (const key of Object.keys(denoLock.npm)) {
      assert.ok(deps.keys.includes(key) || unused.has(key), `${key} is not covered`);
    }
    assert.ok(!deps.keys.some((k) => k.startsWith("@grammyjs/runner@")), "the runner stays out");
    for (const p of deps.packages) assert.equal(p.integrity, denoLock.npm[p.key].integrity);
    // The packaged lock and import map agree with each other (Deno's --frozen checks it too).
    assert.deepEqual(Object.keys(deps.runtimeLock.npm).sort(), deps.keys);
    assert.equal(deps.runtimeDenoJson.nodeModulesDir, "manual");
  },
});

/** A folder for a bot started by hand: state, lock, pids and gates, as startBot() makes them. */
async function botDirs(root: string): Promise<BotProcess["dirs"]> {
  const dirs = { root, state: `${root}/state`, lock: `${root}/lock`, pids: `${root}/pids` };
  for (const dir of [dirs.lock, dirs.pids, `${root}/gates`]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  return dirs;
}

/** Starts `<dir>/main.ts` with these Deno flags and environment, as the bot's test helpers do. */
function spawnBot(
  dir: string,
  flags: string[],
  env: Record<string, string>,
  dirs: BotProcess["dirs"],
): BotProcess {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `--config=${dir}/deno.json`, `${dir}/main.ts`],
    cwd: dir,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return new BotProcess(process, dirs, false);
}

/** Sends a message and waits for its reply; prints the bot's stderr on failure. */
async function assertAnswers(sim: BotApiSimulator, bot: BotProcess): Promise<void> {
  try {
    const id = messageIdOf(sim.sendText(1001, "hello from the package test"));
    await sim.waitForCall(repliedTo(1001, id), { timeoutMs: 30_000 });
  } catch (error) {
    console.error(`--- bot stderr ---\n${bot.stderr}--- end of bot stderr ---`);
    throw error;
  }
}

async function sha512Integrity(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-512", await Deno.readFile(path));
  return `sha512-${btoa(String.fromCharCode(...new Uint8Array(digest)))}`;
}

Deno.test({
  name:
    "the packaged node_modules, laid out by nix/npm-deps.nix from the npm tarballs, runs the bot with an empty Deno cache and no registry",
  ignore: needs("nix-instantiate", "npm", "tar"),
  async fn() {
    const deps = await npmDeps();
    await using work = await tempDir("coord-package-");
    // The tarballs, from npm (its cache or its registry), checked as fetchurl checks them.
    const tarballs = `${work.path}/tarballs`;
    await Deno.mkdir(tarballs);
    const pack = await run(
      "npm",
      [
        "pack",
        "--json",
        "--pack-destination",
        tarballs,
        ...deps.packages.map((p) => `${p.name}@${p.version}`),
      ],
      { cwd: tarballs },
    );
    assertOk(pack, "npm pack");
    const packed = JSON.parse(pack.stdout) as { name: string; version: string; filename: string }[];
    const fileOf: Record<string, string> = {};
    for (const p of deps.packages) {
      const entry = packed.find((e) => e.name === p.name && e.version === p.version);
      assert.ok(entry, `npm pack gave no ${p.name}@${p.version}`);
      const file = `${tarballs}/${entry.filename.replace(/^@/, "").replace("/", "-")}`;
      assert.equal(await sha512Integrity(file), p.integrity, `${p.key}: integrity`);
      fileOf[p.key] = file;
    }

    // The folder the package builds: the bot's files, the packaged deno.json and deno.lock, and
    // node_modules laid out by the very commands the package build runs.
    const app = `${work.path}/app`;
    await Deno.mkdir(app);
    for (const file of ["main.ts", "handler.ts", "lib"]) {
      assertOk(await run("cp", ["-r", projectPath(file), app]), `cp ${file}`);
    }
    await Deno.writeTextFile(`${app}/deno.json`, JSON.stringify(deps.runtimeDenoJson, null, 2));
    await Deno.writeTextFile(`${app}/deno.lock`, JSON.stringify(deps.runtimeLock, null, 2));
    const script = await nixEval(
      `(import ${nixPath("nix/npm-deps.nix")} { }).layoutScript (p: (builtins.fromJSON ${
        JSON.stringify(JSON.stringify(fileOf))
      }).\${p.key})`,
    ) as string;
    assertOk(await run("bash", ["-c", script], { cwd: app }), "the layout script");
    assertOk(await run("chmod", ["-R", "a-w", app]), "chmod");

    const project = await nixEval(
      `{ inherit (import ${nixPath("nix/project.nix")} { }) startFlags; }`,
    ) as { startFlags: string[] };
    await using sim = await BotApiSimulator.start();
    const dirs = await botDirs(`${work.path}/bot`);
    const denoDir = `${work.path}/empty-deno-dir`;
    const env = {
      ...botEnv(sim, dirs, [1001]),
      DENO_DIR: denoDir,
      // Where a registry request would go: nowhere.
      NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/",
    };
    await using bot = spawnBot(app, [...project.startFlags, "--cached-only"], env, dirs);
    await assertAnswers(sim, bot);
    const fetched = [...walk(`${denoDir}/npm`)];
    assert.deepEqual(fetched, [], "nothing was put in Deno's npm cache");
  },
});

/** Every file under a folder (none if it doesn't exist). */
function* walk(dir: string): Generator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory) yield* walk(`${dir}/${e.name}`);
    else yield `${dir}/${e.name}`;
  }
}

Deno.test("the bot starts and answers from a checkout whose path holds a space and a non-ASCII letter", async () => {
  await using work = await tempDir("coord-path-");
  const checkout = `${work.path}/mein Bötchen`;
  await Deno.mkdir(checkout);
  for (const file of ["deno.json", "deno.lock", "main.ts", "handler.ts", "lib"]) {
    assertOk(await run("cp", ["-r", projectPath(file), checkout]), `cp ${file}`);
  }
  const flags = String(denoJson.tasks.start).split(/\s+/).slice(2, -1);
  await using sim = await BotApiSimulator.start();
  const dirs = await botDirs(`${work.path}/state ü`);
  await using bot = spawnBot(checkout, flags, botEnv(sim, dirs, [1001]), dirs);
  await assertAnswers(sim, bot);
  assert.match(bot.stderr, /child started/);
});

/** A copy of the project's files (not .git, nor the tools .ci/run installs) in a new folder. */
async function copyProject(to: string): Promise<void> {
  await Deno.mkdir(`${to}/.ci`, { recursive: true });
  const files = ["deno.json", "deno.lock", "main.ts", "handler.ts", "lib", "tests", "bench"];
  for (const file of [...files, "smoke.sh", "systemd", "nix", "README.md"]) {
    assertOk(await run("cp", ["-r", projectPath(file), to]), `cp ${file}`);
  }
  assertOk(await run("cp", [projectPath(".ci/run"), `${to}/.ci/run`]), "cp .ci/run");
}

/** A PATH whose env and bash are copies outside /usr/bin, as a Nix sandbox has them. */
async function sandboxPath(dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  for (const tool of ["env", "bash"]) {
    assertOk(await run("cp", [which(tool)!, `${dir}/${tool}`]), `cp ${tool}`);
  }
  return `${dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
}

Deno.test({
  name:
    "nix/sandbox-prep.sh leaves no /usr/bin/env in what the test check runs, and fails on one it can't replace",
  ignore: needs("bash", "grep", "sed"),
  async fn(t) {
    await using work = await tempDir("coord-sandbox-");
    const tree = `${work.path}/tree`;
    await copyProject(tree);
    const path = await sandboxPath(`${work.path}/bin`);
    const prep = () =>
      run("bash", [projectPath("nix/sandbox-prep.sh")], { cwd: tree, env: { PATH: path } });

    await t.step("every shebang and direct use rewritten", async () => {
      assertOk(await prep(), "sandbox-prep.sh");
      const left = await run("grep", ["-rlI", "--exclude=sandbox-prep.sh", "/usr/bin/env", "."], {
        cwd: tree,
      });
      assert.equal(left.stdout, "", `still there:\n${left.stdout}`);
      for (const stub of ["brain.sh", "slow_echo.sh", "transcribe.sh"]) {
        const first = Deno.readTextFileSync(`${tree}/tests/stubs/${stub}`).split("\n")[0];
        assert.equal(first, `#!${work.path}/bin/bash`, stub);
      }
    });
    await t.step("a shebang whose program isn't there fails, named", async () => {
      Deno.writeTextFileSync(`${tree}/tests/stubs/odd.sh`, "#!/usr/bin/env no-such-shell\n");
      const result = await prep();
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /still used.*\n.*odd\.sh:1:#!\/usr\/bin\/env no-such-shell/);
    });
  },
});

/** Whether this process may make a mount namespace and bind-mount in it (root on Linux). */
function canHideFiles(): boolean {
  if (which("unshare") === undefined) return false;
  try {
    const probe = new Deno.Command("unshare", {
      args: ["-m", "sh", "-c", "mount --bind /dev/null /dev/null"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return probe.success;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "with /usr/bin/env hidden, as in the Nix sandbox, the prepared copy's stubs and process tests run",
  // Needs root, for a mount namespace; CI runs as root.
  ignore: !canHideFiles() || !existsSync("/usr/bin/env"),
  async fn() {
    await using work = await tempDir("coord-noenv-");
    const tree = `${work.path}/tree`;
    await copyProject(tree);
    const path = await sandboxPath(`${work.path}/bin`);
    assertOk(
      await run("bash", [projectPath("nix/sandbox-prep.sh")], { cwd: tree, env: { PATH: path } }),
      "sandbox-prep.sh",
    );
    const hidden = (command: string) =>
      run("unshare", ["-m", "bash", "-c", `mount --bind /dev/null /usr/bin/env && ${command}`], {
        cwd: tree,
        env: { PATH: path, NO_COLOR: "1", DENO_DIR: denoDirOf() },
      });
    // The original stub can't start there: the mask works.
    const original = await hidden(
      `echo hi | ECHO_DELAY_S=0 ${projectPath("tests/stubs/slow_echo.sh")}`,
    );
    assert.notEqual(original.code, 0, "an unprepared stub ran without /usr/bin/env");
    const stub = await hidden("echo hi | ECHO_DELAY_S=0 tests/stubs/slow_echo.sh");
    assertOk(stub, "the prepared stub");
    assert.equal(stub.stdout.trim(), "You said: hi");
    const tests = await hidden(
      `${Deno.execPath()} test --frozen --no-prompt --allow-all tests/unit_process_tree_test.ts`,
    );
    assertOk(tests, "unit_process_tree_test.ts without /usr/bin/env");
  },
});

Deno.test({
  name: "the flake's outputs evaluate offline with nixpkgs replaced by a stand-in",
  ignore: needs("nix", "git"),
  async fn() {
    // Flakes in a git folder see only tracked files: build a small repository with what the
    // flake reads, so that uncommitted work here counts.
    await using repo = await tempDir("coord-flake-");
    const files = [
      "flake.nix",
      "deno.json",
      "deno.lock",
      "main.ts",
      "handler.ts",
      "smoke.sh",
      "nix",
      "lib",
    ];
    for (const file of files) {
      assertOk(await run("cp", ["-r", projectPath(file), repo.path]), `cp ${file}`);
    }
    const git = (...args: string[]) =>
      run("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd: repo.path });
    assertOk(await git("init", "-q"), "git init");
    assertOk(await git("add", "-A"), "git add");
    const standIn = `path:${projectPath("tests/nix-stand-in")}`;
    const nix = (...args: string[]) =>
      run("nix", [...args, "--override-input", "nixpkgs", standIn], {
        cwd: repo.path,
        env: { ...NIX_ENV, HOME: repo.path },
      });

    const check = await nix("flake", "check", "--no-build");
    assertOk(check, "nix flake check --no-build");
    assert.doesNotMatch(check.stderr, /error/i, check.stderr);

    const show = await nix("flake", "show", "--json");
    assertOk(show, "nix flake show");
    const outputs = JSON.parse(show.stdout);
    for (const system of ["x86_64-linux", "aarch64-linux"]) {
      assert.equal(outputs.packages[system].default.name, "forge-coordinator");
      assert.equal(outputs.apps[system].default.type, "app");
      assert.ok(outputs.devShells[system].default, `devShells.${system}.default`);
      assert.deepEqual(
        Object.keys(outputs.checks[system]).sort(),
        ["check", "fmt", "lint", "package", "test"],
      );
      assert.ok(outputs.formatter[system], `formatter.${system}`);
    }
    assert.ok("homeModules" in outputs, "homeModules");
    assert.ok("homeManagerModules" in outputs, "homeManagerModules");
    assert.ok("nixosModules" in outputs, "nixosModules");

    const program = await nix("eval", "--raw", ".#apps.x86_64-linux.default.program");
    assertOk(program, "nix eval apps.default.program");
    assert.match(program.stdout, /^\/nix\/store\/\w+-forge-coordinator\/bin\/forge-coordinator$/);

    // The network-using checks are fixed outputs, built once per name: a new nixpkgs (here, a
    // stand-in whose Deno is another) must give them a new name, or they never run again. (A new
    // source does too.)
    const checkName = async (nixpkgs: string) => {
      const name = await run("nix", [
        "eval",
        "--raw",
        ".#checks.x86_64-linux.test.name",
        "--override-input",
        "nixpkgs",
        nixpkgs,
      ], { cwd: repo.path, env: { ...NIX_ENV, HOME: repo.path } });
      assertOk(name, "nix eval checks.test.name");
      return name.stdout;
    };
    const before = await checkName(standIn);
    assert.match(before, /^forge-coordinator-test-[0-9a-f]{16}$/);
    const newer = `${repo.path}-newer-deno`;
    assertOk(await run("cp", ["-r", projectPath("tests/nix-stand-in"), newer]), "cp stand-in");
    const flake = Deno.readTextFileSync(`${newer}/flake.nix`);
    Deno.writeTextFileSync(`${newer}/flake.nix`, flake.replaceAll("2.9.6", "2.9.7"));
    try {
      const after = await checkName(`path:${newer}`);
      assert.notEqual(after, before, "a new Deno renames the check");
    } finally {
      await Deno.remove(newer, { recursive: true });
    }
    assert.equal(await checkName(standIn), before, "the same inputs, the same name");
    Deno.writeTextFileSync(`${repo.path}/main.ts`, "// another source\n", { append: true });
    assertOk(await git("add", "-A"), "git add");
    assert.notEqual(await checkName(standIn), before, "a new source renames the check");
  },
});

Deno.test({
  name: "the home-manager module renders the same unit as systemd/forge-coordinator.service",
  ignore: needs("nix-instantiate"),
  async fn(t) {
    const { defaults, unit } = await moduleUnit();
    const byHand = parseUnit(
      Deno.readTextFileSync(projectPath("systemd/forge-coordinator.service")),
    );
    const rendered = parseUnit(renderUnit(unit));

    await t.step(
      "key for key, but for where the binary, PATH, token and settings come from",
      () => {
        const differ = [
          "ExecStart",
          "Environment",
          "EnvironmentFile",
          "LoadCredential",
          "SetCredential",
          "Documentation",
        ];
        const strip = (u: Unit) =>
          Object.fromEntries(
            Object.entries(u).map((
              [section, keys],
            ) => [
              section,
              Object.fromEntries(Object.entries(keys).filter(([k]) => !differ.includes(k))),
            ]),
          );
        assert.deepEqual(strip(rendered), strip(byHand));
        assert.equal(
          rendered.Service.ExecStart[0],
          "/nix/store/00000000000000000000000000000000-forge-coordinator/bin/forge-coordinator",
        );
        const credential = (u: Unit) => u.Service.LoadCredential[0].split(":")[0];
        assert.equal(credential(rendered), credential(byHand));
        assert.equal(
          rendered.Service.LoadCredential[0],
          "telegram-bot-token:/home/me/.config/forge-coordinator/token",
        );
        // A missing token file: the credential's fallback names it, in both (see the unit).
        for (const u of [byHand, rendered]) {
          const source = u.Service.LoadCredential[0].slice("telegram-bot-token:".length);
          assert.deepEqual(u.Service.SetCredential, [`telegram-bot-token:missing:${source}`]);
        }
        // The settings file is the unit by hand's (COORD_ENV_FILE names it); the module has none
        // unless environmentFile is set.
        const shared = byHand.Service.Environment.filter((e) =>
          !e.startsWith("PATH=") && !e.startsWith("COORD_ENV_FILE=")
        );
        for (const line of shared) {
          assert.ok(rendered.Service.Environment.includes(line), `Environment=${line}`);
        }
        assert.ok(!rendered.Service.Environment.some((e) => e.startsWith("COORD_ENV_FILE=")));
      },
    );

    await t.step("its defaults are the bot's own", async () => {
      // Each option's default, given to the bot as its variable, changes nothing.
      const settings = await settingsTable();
      const sources = (env: Record<string, string>) => ({
        env: { TELEGRAM_BOT_TOKEN: "123:abc", COORD_AUTHORIZED_USER_IDS: "1", HOME: "/h", ...env },
        uid: () => 1000,
        readTextFile: () => "",
        isReadableFile: () => true,
      });
      const bare = parseConfig(sources({}));
      for (const [option, setting] of Object.entries(settings)) {
        if (setting.rendered === null) {
          assert.deepEqual(defaults[option] ?? null, setting.default ?? null, option);
          continue;
        }
        const withDefault = parseConfig(sources({ [setting.variable]: setting.rendered }));
        assert.deepEqual(withDefault, bare, `${option}: ${setting.variable}=${setting.rendered}`);
      }
    });

    await t.step(
      "settings become quoted Environment= lines, literal and in the bot's format",
      async () => {
        const { unit } = await moduleUnit({
          brainCommand: ["sh", "-c", 'date +%s; echo "hi"'],
          brainTimeoutSeconds: 2.5,
          path: [],
          environmentFile: "/home/me/.config/forge-coordinator/brain.env",
        });
        const env = unit.Service.Environment as string[];
        assert.ok(
          env.includes(
            '"COORD_BRAIN_CMD=[\\"sh\\",\\"-c\\",\\"date +%%s; echo \\\\\\"hi\\\\\\"\\"]"',
          ),
          env.join("\n"),
        );
        assert.ok(env.includes("COORD_BRAIN_TIMEOUT_S=2.5"));
        assert.ok(env.includes("COORD_AUTHORIZED_USER_IDS=1,2"));
        assert.ok(
          env.some((e) => /^PATH=\/home\/me\/\.nix-profile\/bin:/.test(e)),
          "no empty PATH entry",
        );
        // Read with `-` and named in COORD_ENV_FILE: the bot, not systemd, says it is missing.
        assert.equal(unit.Service.EnvironmentFile, "-/home/me/.config/forge-coordinator/brain.env");
        assert.ok(env.includes("COORD_ENV_FILE=/home/me/.config/forge-coordinator/brain.env"));
      },
    );
  },
});

Deno.test({
  name:
    "the units run main.ts as their main process, with deno.json's start flags, and stop restarting what can't start",
  ignore: needs("nix-instantiate"),
  async fn(t) {
    const byHand = parseUnit(
      Deno.readTextFileSync(projectPath("systemd/forge-coordinator.service")),
    );
    const { unit } = await moduleUnit();
    const rendered = parseUnit(renderUnit(unit));
    const words = String(denoJson.tasks.start).split(/\s+/);

    await t.step("by hand: env execs deno run main.ts itself: no deno task, no npx", () => {
      const argv = byHand.Service.ExecStart[0].split(/\s+/);
      assert.deepEqual(argv, [
        "/usr/bin/env",
        "deno",
        "run",
        ...words.slice(2, -1),
        "--config=%h/forge-coordinator/deno.json",
        `%h/forge-coordinator/${words.at(-1)}`,
      ]);
      assert.equal(words.at(-1), "main.ts");
    });
    await t.step("the module's: the package's binary, which execs deno run main.ts", async () => {
      assert.equal(
        rendered.Service.ExecStart[0],
        "/nix/store/00000000000000000000000000000000-forge-coordinator/bin/forge-coordinator",
      );
      const text = await nixEval(`(${packageExpression("2.9.6")}).text`) as string;
      const last = text.trim().split("\n").at(-1)!;
      assert.match(last, /^exec \/nix\/store\/\w+-deno\/bin\/deno run .* \S+\/main\.ts "\$@"$/);
    });
    for (const [name, u] of [["by hand", byHand], ["the module's", rendered]] as const) {
      await t.step(`${name}: a start limit, and no restart where it can't help`, () => {
        assert.deepEqual(u.Unit.StartLimitIntervalSec, ["10min"]);
        assert.deepEqual(u.Unit.StartLimitBurst, ["5"]);
        assert.deepEqual(u.Service.RestartPreventExitStatus, ["73 77 78"]);
        assert.deepEqual(u.Service.Restart, ["on-failure"]);
      });
    }
  },
});

Deno.test({
  name:
    "the modules' watchdogSec follows the poll timeout unless set, and is refused at or below the longest turn of the loop",
  ignore: needs("nix-instantiate"),
  async fn(t) {
    await t.step("the default: the poll timeout + 30 s", async () => {
      assert.equal((await moduleUnit()).unit.Service.WatchdogSec, "60s");
      const { unit } = await moduleUnit({ pollTimeoutSeconds: 50 });
      assert.equal(unit.Service.WatchdogSec, "80s");
    });
    await t.step("set", async () => {
      assert.equal((await moduleUnit({ watchdogSec: 120 })).unit.Service.WatchdogSec, "120s");
    });
    await t.step("too short for a long poll", async () => {
      await assert.rejects(
        moduleUnit({ pollTimeoutSeconds: 50, watchdogSec: 60 }),
        /watchdogSec \(60\) must be above pollTimeoutSeconds \+ 10 \(60\)/,
      );
    });
  },
});

/** The variables lib/shared/config.ts reads: every quoted COORD_... or TELEGRAM_... name in it. */
function configVariables(): string[] {
  const text = Deno.readTextFileSync(projectPath("lib/shared/config.ts"));
  return [...new Set([...text.matchAll(/"((?:COORD|TELEGRAM)_[A-Z0-9_]+)"/g)].map((m) => m[1]))]
    .sort();
}

Deno.test({
  name:
    "every variable lib/shared/config.ts reads has a module option and a line in the env example",
  ignore: needs("nix-instantiate"),
  async fn() {
    const variables = configVariables();
    assert.ok(variables.length > 10, `found only ${variables}`);
    const settings = await settingsTable();
    const options = new Map(Object.entries(settings).map(([o, s]) => [s.variable, o]));
    // The token is a credential, never a setting: tokenFile becomes TELEGRAM_BOT_TOKEN_FILE in
    // the unit, and the token itself has no option (it would land in the Nix store).
    const byDesign: Record<string, string> = {
      TELEGRAM_BOT_TOKEN: "no option: the token must not reach the store",
      TELEGRAM_BOT_TOKEN_FILE: "tokenFile",
      COORD_ENV_FILE: "set by the unit, naming its EnvironmentFile= (environmentFile)",
    };
    const example = Deno.readTextFileSync(projectPath("systemd/forge-coordinator.env.example"));
    const missing: string[] = [];
    for (const variable of variables) {
      if (!options.has(variable) && !(variable in byDesign)) missing.push(`${variable}: no option`);
      const line = new RegExp(`^#?${variable}=`, "m");
      if (!(variable in byDesign) && !line.test(example)) {
        missing.push(`${variable}: no line in systemd/forge-coordinator.env.example`);
      }
    }
    assert.deepEqual(missing, []);
    // (An option for a variable the bot stopped reading is not an error here: it sets a variable
    // nobody reads, and nix/settings.nix can drop it at leisure.)
    // Each option reaches the unit as its variable.
    const { unit } = await moduleUnit({
      allowedChatIds: [-100123, 5],
      brainCommand: ["claude", "-p"],
      brainKind: "claude",
      brainWorkdir: "/home/me/work",
      personaFile: "/home/me/persona.md",
      lockDir: "/run/user/1000/coord",
      stateDir: "/home/me/state",
      transcribeCommand: "transcribe --fast",
    });
    const set = (unit.Service.Environment as string[]).map((e) =>
      e.replace(/^"/, "").split("=")[0]
    );
    for (const variable of options.keys()) assert.ok(set.includes(variable), variable);
  },
});

Deno.test({
  name:
    "tokenFile takes a path, a systemd specifier or agenix's ${XDG_RUNTIME_DIR}, and refuses the store",
  ignore: needs("nix-instantiate"),
  async fn(t) {
    const source = (tokenFile: string) =>
      run("nix-instantiate", [
        "--eval",
        "--strict",
        "--json",
        "-E",
        `import ${nixPath("nix/token-file.nix")} ${
          JSON.stringify(tokenFile).replaceAll("${", "\\${")
        }`,
      ], { env: NIX_ENV });
    const accepted: [string, string][] = [
      ["/home/me/.config/forge-coordinator/token", "/home/me/.config/forge-coordinator/token"],
      ["%t/agenix/telegram-bot-token", "%t/agenix/telegram-bot-token"],
      ["%E/forge-coordinator/token", "%E/forge-coordinator/token"],
      ["${XDG_RUNTIME_DIR}/agenix/telegram-bot-token", "%t/agenix/telegram-bot-token"],
      ["$XDG_RUNTIME_DIR/agenix/telegram-bot-token", "%t/agenix/telegram-bot-token"],
      ["${HOME}/.config/token", "%h/.config/token"],
      // Not %S: that is ~/.config in a user unit before systemd 254.
      ["${XDG_STATE_HOME}/forge-coordinator/token", "%h/.local/state/forge-coordinator/token"],
      ["/run/secrets/telegram-bot-token", "/run/secrets/telegram-bot-token"],
    ];
    for (const [tokenFile, expected] of accepted) {
      await t.step(`accepts ${tokenFile}`, async () => {
        const result = await source(tokenFile);
        assertOk(result, tokenFile);
        assert.equal(JSON.parse(result.stdout), expected);
      });
    }
    const refused: [string, RegExp][] = [
      ["/nix/store/00000000000000000000000000000000-token", /must not be in the Nix store/],
      ["token", /must be an absolute path/],
      ["~/token", /must be an absolute path/],
      ["${SECRETS}/token", /systemd can't expand \$SECRETS/],
      ["/home/me/my token", /no spaces/],
      ["%S/forge-coordinator/token", /%S is ~\/\.config in a user unit before systemd 254/],
    ];
    for (const [tokenFile, message] of refused) {
      await t.step(`refuses ${tokenFile}`, async () => {
        const result = await source(tokenFile);
        assert.notEqual(result.code, 0, result.stdout);
        assert.match(result.stderr, message);
      });
    }
    await t.step("in the unit, as LoadCredential='s source", async () => {
      const { unit } = await moduleUnit({ tokenFile: "${XDG_RUNTIME_DIR}/agenix/tok" });
      assert.equal(unit.Service.LoadCredential, "telegram-bot-token:%t/agenix/tok");
    });
  },
});

Deno.test({
  name:
    "the NixOS module runs the same unit for its user only, with the package on their PATH and lingering",
  ignore: needs("nix-instantiate"),
  async fn() {
    const out = await nixEval(`
      let
        lib = import ${nixPath("tests/nix-stand-in/lib.nix")};
        pkg = {
          outPath = "/nix/store/00000000000000000000000000000000-forge-coordinator";
          meta.mainProgram = "forge-coordinator";
        };
        pkgs = { stdenv.hostPlatform.system = "x86_64-linux"; };
        module = import ${nixPath("nix/nixos.nix")} { self.packages.x86_64-linux.default = pkg; };
        options = (module { config = { }; inherit lib pkgs; }).options.services.forge-coordinator;
        cfg = builtins.mapAttrs (_: o: o.default or null) options // {
          enable = true;
          package = pkg;
          user = "me";
          tokenFile = "%t/agenix/telegram-bot-token";
          authorizedUserIds = [ 1 ];
        };
        config = {
          services.forge-coordinator = cfg;
          users.users.me.home = "/home/me";
        };
      in
      (module { inherit config lib pkgs; }).config.content
    `) as {
      users: { users: { me: { packages: string[]; linger: boolean } } };
      systemd: {
        user: {
          services: {
            "forge-coordinator": {
              description: string;
              unitConfig: Record<string, string>;
              serviceConfig: Record<string, string | string[]>;
              wantedBy: string[];
            };
          };
        };
      };
    };
    const service = out.systemd.user.services["forge-coordinator"];
    assert.equal(service.unitConfig.ConditionUser, "me");
    assert.deepEqual(service.wantedBy, ["default.target"]);
    assert.equal(
      service.serviceConfig.LoadCredential,
      "telegram-bot-token:%t/agenix/telegram-bot-token",
    );
    assert.ok(
      (service.serviceConfig.Environment as string[]).some((e) =>
        e.startsWith("PATH=/etc/profiles/per-user/me/bin:/home/me/.local/bin:")
      ),
    );
    assert.equal(out.users.users.me.linger, true);
    assert.equal(
      out.users.users.me.packages[0],
      "/nix/store/00000000000000000000000000000000-forge-coordinator",
    );
    // The same unit as the home-manager module's, key for key, but for PATH.
    const { unit: hm } = await moduleUnit({
      tokenFile: "%t/agenix/telegram-bot-token",
      authorizedUserIds: [1],
    });
    const withoutPath = (env: string[]) => env.filter((e) => !e.startsWith("PATH="));
    assert.deepEqual(
      {
        ...service.serviceConfig,
        Environment: withoutPath(service.serviceConfig.Environment as string[]),
      },
      { ...hm.Service, Environment: withoutPath(hm.Service.Environment as string[]) },
    );
    assert.deepEqual(
      { Description: service.description, ...service.unitConfig },
      { ...hm.Unit, ConditionUser: "me" },
    );
  },
});

Deno.test({
  name: "systemd-analyze verifies the unit, and the module's rendering of it, without a warning",
  ignore: needs("systemd-analyze"),
  async fn(t) {
    await using dir = await tempDir("coord-unit-");
    await Deno.mkdir(`${dir.path}/runtime`, { mode: 0o700 });
    const verify = async (text: string) => {
      const path = `${dir.path}/forge-coordinator.service`;
      await Deno.writeTextFile(path, text);
      const result = await run("systemd-analyze", ["--user", "verify", path], {
        env: {
          XDG_RUNTIME_DIR: `${dir.path}/runtime`,
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        },
      });
      const output = `${result.stdout}${result.stderr}`;
      const warnings = output.split("\n").filter((l) => /forge-coordinator/.test(l));
      assert.deepEqual(warnings, [], output);
      assertOk(result, "systemd-analyze verify");
    };

    await t.step("the unit file as written", async () => {
      // verify checks that ExecStart's binary exists: /usr/bin/env does on any Debian or NixOS
      // machine; elsewhere (a build sandbox) the env found on PATH stands in.
      let text = Deno.readTextFileSync(projectPath("systemd/forge-coordinator.service"));
      const env = which("env");
      if (!existsSync("/usr/bin/env") && env) {
        text = text.replace("ExecStart=/usr/bin/env", `ExecStart=${env}`);
      }
      await verify(text);
    });

    await t.step(
      "the home-manager module's, its store path replaced by an existing binary",
      async () => {
        const { unit } = await moduleUnit({
          brainCommand: "claude -p --model sonnet",
          environmentFile: "%h/.config/forge-coordinator/brain.env",
          watchdogSec: 90,
        });
        unit.Service.ExecStart = which("env") ?? "/usr/bin/env";
        await verify(renderUnit(unit));
      },
    );
  },
});

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "smoke.sh is shellcheck clean",
  ignore: needs("shellcheck"),
  async fn() {
    const result = await run("shellcheck", ["smoke.sh"]);
    assertOk(result, "shellcheck smoke.sh");
    assert.equal(result.stdout, "");
  },
});

Deno.test("./smoke.sh --sim plays the phone recipe against the simulator and finds it healthy", async () => {
  const result = await run("./smoke.sh", ["--sim"], {
    env: { SMOKE_DENO: Deno.execPath(), PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  });
  assertOk(result, "./smoke.sh --sim");
  assert.match(result.stdout, /child started: {2}2\n {2}child reaped: {3}2\n/);
  assert.match(result.stdout, /^healthy$/m);
});

Deno.test("smoke.sh's journal check names what is wrong and exits non-zero", async (t) => {
  await using dir = await tempDir("coord-smoke-");
  const start = (pid: number, at: string) =>
    `2026-01-01 ${at}.000 +00 [INF] coord·main: started: pid ${pid}, state folder /s`;
  const healthy = [
    start(100, "10:00:00"),
    "2026-01-01 10:00:00.000 +00 [INF] coord·main: polling https://api.telegram.org/ with at most 4 handlers",
    "2026-01-01 10:00:01.000 +00 [INF] coord·dispatch: child started: update 7, chat 1, pid 10, 1 of 4 live",
    "2026-01-01 10:00:05.000 +00 [INF] coord·dispatch: child reaped: pid 10, update 7, exit status 0, 4 s",
  ];
  const check = async (lines: string[]) => {
    const file = `${dir.path}/journal`;
    await Deno.writeTextFile(file, lines.map((l) => `${l}\n`).join(""));
    return await run("./smoke.sh", ["--journal", file]);
  };
  const token = `${"4".repeat(9)}:${"A".repeat(35)}`;

  await t.step("a healthy journal", async () => {
    const result = await check(healthy);
    assertOk(result, "smoke.sh --journal");
    assert.match(result.stdout, /^healthy$/m);
  });
  await t.step("a dispatch crash", async () => {
    const result = await check([
      ...healthy,
      "2026-01-01 10:00:06.000 +00 [ERR] coord·main: dispatch crash: update 8, chat 1: boom",
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /UNHEALTHY: 1 dispatch crash line\(s\)/);
  });
  await t.step("a token-looking string, which is not printed", async () => {
    const result = await check([...healthy, `2026-01-01 10:00:06.000 +00 [INF] leaked ${token}`]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /UNHEALTHY: 1 line\(s\) hold a token-looking string/);
    assert.ok(!result.stdout.includes(token));
  });
  await t.step("an update started twice within one run: duplicated work", async () => {
    const result = await check([...healthy, healthy[2]]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /UNHEALTHY: update\(s\) 7 started more than once/);
  });
  await t.step(
    "a restart, and the journal's re-run of what it cut off: healthy, and said",
    async () => {
      const result = await check([
        // The window begins in the middle of an earlier run.
        healthy[2],
        "2026-01-01 10:00:02.000 +00 [INF] coord·main: SIGTERM received: stopping",
        start(200, "10:00:30"),
        "2026-01-01 10:00:31.000 +00 [INF] coord·dispatch: child started: update 7, chat 1, pid 20, 1 of 4 live",
        "2026-01-01 10:00:35.000 +00 [INF] coord·dispatch: child reaped: pid 20, update 7, exit status 0, 4 s",
      ]);
      assertOk(result, "smoke.sh --journal");
      assert.match(
        result.stdout,
        /^runs: 1 started in these lines, after the end of an earlier one; the last:\n {4}.*started: pid 200/m,
      );
      assert.match(result.stdout, /re-run after a restart: update\(s\) 7 \(expected/);
      assert.match(result.stdout, /^healthy$/m);
    },
  );
  await t.step(
    "lines that begin mid-run: a handler started before them is reaped in them",
    async () => {
      const earlier =
        "2026-01-01 09:59:59.000 +00 [INF] coord·dispatch: child reaped: pid 9, update 6, exit status 0, 9 s";
      const result = await check([earlier, ...healthy.slice(1)]);
      assertOk(result, "smoke.sh --journal");
      assert.match(result.stdout, /child reaped: {3}2\n/);
      assert.match(result.stdout, /^healthy$/m);
    },
  );
  await t.step("a handler reaped twice", async () => {
    const result = await check([...healthy, healthy[3]]);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /UNHEALTHY: 1 reap\(s\) of a handler already reaped as often as started/,
    );
  });
  await t.step("started twice in the second run after a restart: duplicated work", async () => {
    const again =
      "2026-01-01 10:00:40.000 +00 [INF] coord·dispatch: child started: update 9, chat 1, pid 21, 1 of 4 live";
    const result = await check([...healthy, start(200, "10:00:30"), again, again]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /UNHEALTHY: update\(s\) 9 started more than once/);
    assert.doesNotMatch(result.stdout, /update\(s\) 7/);
  });
  await t.step("the unit's journal is read with journalctl -q", async () => {
    const bin = `${dir.path}/bin`;
    await Deno.mkdir(bin, { recursive: true });
    await Deno.writeTextFile(
      `${bin}/journalctl`,
      `#!/bin/sh\necho "$*" > "${dir.path}/journalctl-args"\nprintf '%s\\n' ${
        healthy.map((l) => `'${l}'`).join(" ")
      }\n`,
    );
    await Deno.chmod(`${bin}/journalctl`, 0o755);
    const result = await run("./smoke.sh", [], {
      env: {
        PATH: `${bin}:${Deno.env.get("PATH")}`,
        COORD_STATE_DIR: `${dir.path}/no-state`,
        SMOKE_DENO: Deno.execPath(),
      },
    });
    assert.match(
      Deno.readTextFileSync(`${dir.path}/journalctl-args`),
      /^--user -q -u forge-coordinator -n 200 --no-pager$/m,
    );
    assert.match(result.stdout, /^runs: 1 started in these lines; the last:$/m);
    assert.match(result.stdout, /^healthy$/m);
  });
  await t.step("an empty journal", async () => {
    const result = await check([]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /UNHEALTHY: the journal has no lines/);
  });
});

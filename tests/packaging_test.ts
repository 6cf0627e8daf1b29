/**
 * Packaging: the flake and its pure Nix logic, the systemd unit, the home-manager module's unit and
 * smoke.sh. Nix, systemd-analyze and shellcheck are not part of Deno: `.ci/run` installs them. A
 * step whose tool is missing fails when `CI` is set, and is ignored otherwise, so that
 * `deno task test` still runs on a machine with only Node and npm.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseConfig } from "../lib/config.ts";
import { projectPath, tempDir } from "./_helpers.ts";

const IN_CI = (Deno.env.get("CI") ?? "") !== "";

/** The absolute path of `name` on PATH, if any. */
function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && (info.mode ?? 0) & 0o111) return `${dir}/${name}`;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** `ignore` for a test that needs these tools: only when one is missing and we're not in CI. */
function needs(...tools: string[]): boolean {
  return !IN_CI && tools.some((tool) => which(tool) === undefined);
}

/** Fails with a clear message when a tool is missing (reached only in CI). */
function requireTool(name: string): void {
  if (which(name) !== undefined) return;
  const fromCi = ["nix", "nix-instantiate", "systemd-analyze", "shellcheck"].includes(name);
  assert.fail(
    fromCi
      ? `${name} is not installed: .ci/run installs it (apt-get install nix-bin systemd shellcheck)`
      : `${name} is not installed`,
  );
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  if (!command.includes("/")) requireTool(command);
  const { cwd = projectPath(""), env = {} } = options;
  const out = await new Deno.Command(command, {
    args,
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

function assertOk(result: Run, what: string): void {
  assert.equal(result.code, 0, `${what} failed:\n${result.stdout}${result.stderr}`);
}

/** Nix as these machines have it: no build users, flakes on. */
const NIX_ENV = {
  NIX_CONFIG: "build-users-group =\nexperimental-features = nix-command flakes",
};

/** `nix-instantiate --eval --strict --json` of an expression, parsed. */
async function nixEval(expression: string): Promise<unknown> {
  const result = await run("nix-instantiate", ["--eval", "--strict", "--json", "-E", expression], {
    env: NIX_ENV,
  });
  assertOk(result, `nix-instantiate --eval ${expression}`);
  return JSON.parse(result.stdout);
}

/** A file of the project as a Nix path expression (safe for any characters in the path). */
function nixPath(relative: string): string {
  return `(/. + ${JSON.stringify(projectPath(relative))})`;
}
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
      } // builtins.fromJSON ${JSON.stringify(JSON.stringify(settings))};
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
    for (const entry of Deno.readDirSync(projectPath("nix"))) files.push(`nix/${entry.name}`);
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
      `removeAttrs (import ${nixPath("nix/project.nix")} { }) [ "runtimeSource" "isRuntimeFile" ]`,
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
    const libFiles = entries.filter((e) => /^lib\/[^/]+\.ts$/.test(e.rel)).map((e) => e.rel);
    assert.deepEqual(
      kept.map((e) => e.rel).sort(),
      ["deno.json", "deno.lock", "handler.ts", "lib", "main.ts", ...libFiles].sort(),
    );
  },
});

Deno.test({
  name:
    "the package runs main.ts with deno.json's start flags, and refuses a Deno older than the pinned one",
  ignore: needs("nix-instantiate"),
  async fn(t) {
    const build = (version: string) => `
      import ${nixPath("nix/package.nix")} {
        deno = { version = "${version}"; outPath = "/nix/store/00000000000000000000000000000000-deno"; };
        writeShellApplication = args: args;
      }`;
    await t.step("with the pinned Deno", async () => {
      const app = await nixEval(`builtins.removeAttrs (${build("2.9.6")}) [ ]`) as {
        name: string;
        text: string;
        meta: { mainProgram: string };
      };
      assert.equal(app.name, "forge-coordinator");
      assert.equal(app.meta.mainProgram, "forge-coordinator");
      const flags = String(denoJson.tasks.start).split(/\s+/).slice(2, -1);
      const quoted = flags.map((f) => `'${f}'`).join(" ");
      assert.match(
        app.text,
        new RegExp(
          `exec /nix/store/0+-deno/bin/deno run ${quoted.replaceAll("=", "\\=")} ` +
            `--config=/nix/store/\\w+-forge-coordinator-source/deno.json ` +
            `/nix/store/\\w+-forge-coordinator-source/main.ts "\\$@"`,
        ),
      );
      assert.match(app.text, /export DENO_DIR=/);
    });
    await t.step("with an older Deno", async () => {
      const result = await run("nix-instantiate", ["--eval", "--strict", "-E", build("2.9.5")], {
        env: NIX_ENV,
      });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /needs Deno 2\.9\.6 or newer; this nixpkgs has 2\.9\.5/);
    });
  },
});

Deno.test({
  name: "the flake's outputs evaluate offline with nixpkgs replaced by a stand-in",
  ignore: needs("nix", "git"),
  async fn() {
    // Flakes in a git folder see only tracked files: build a small repository with what the
    // flake reads, so that uncommitted work here counts.
    await using repo = await tempDir("coord-flake-");
    const files = ["flake.nix", "deno.json", "deno.lock", "main.ts", "handler.ts", "nix", "lib"];
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
    assert.ok("homeManagerModules" in outputs);

    const program = await nix("eval", "--raw", ".#apps.x86_64-linux.default.program");
    assertOk(program, "nix eval apps.default.program");
    assert.match(program.stdout, /^\/nix\/store\/\w+-forge-coordinator\/bin\/forge-coordinator$/);
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
        for (const shared of byHand.Service.Environment.filter((e) => !e.startsWith("PATH="))) {
          assert.ok(rendered.Service.Environment.includes(shared), `Environment=${shared}`);
        }
      },
    );

    await t.step("its defaults are the bot's own", () => {
      const config = parseConfig({
        env: { TELEGRAM_BOT_TOKEN: "123:abc", COORD_AUTHORIZED_USER_IDS: "1", HOME: "/h" },
        uid: () => 1000,
        readTextFile: () => "",
        isReadableFile: () => true,
      });
      assert.equal(defaults.apiRoot, config.apiRoot);
      assert.equal(defaults.brainTimeoutSeconds, config.brainTimeoutMs / 1000);
      assert.equal(defaults.brainMaxIters, config.brainMaxAttempts);
      assert.equal(defaults.maxConcurrentBrains, config.maxConcurrentHandlers);
      assert.equal(defaults.pollTimeoutSeconds, config.pollTimeoutS);
      for (const unset of ["brainCommand", "personaFile", "transcribeCommand"]) {
        assert.equal(defaults[unset], null, unset);
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
        assert.deepEqual(unit.Service.EnvironmentFile, [
          "/home/me/.config/forge-coordinator/brain.env",
        ]);
      },
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
        const { unit } = await moduleUnit({ brainCommand: "claude -p --model sonnet" });
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
  const healthy = [
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
  await t.step("an update started twice", async () => {
    const result = await check([...healthy, healthy[1]]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /UNHEALTHY: update\(s\) 7 started more than once/);
  });
  await t.step("an empty journal", async () => {
    const result = await check([]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /UNHEALTHY: the journal has no lines/);
  });
});

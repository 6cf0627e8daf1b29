/**
 * Packaging of the coordinator's reach from the box: the Nix package's `send` and `ask` (the
 * narrow flags of `deno task send`), and scheduled asks on systemd user timers
 * (`nix/schedules.nix`, through the home-manager and NixOS modules), each timer and service
 * verified by `systemd-analyze`. Like tests/packaging_test.ts, a step whose tool is missing fails
 * when `CI` is set and is ignored otherwise.
 *
 * @module
 */

import assert from "node:assert/strict";
import { projectPath, tempDir } from "./_helpers.ts";
import { needs, NIX_ENV, nixEval, nixPath, packageExpression, run, which } from "./_packaging.ts";
import { heredoc, readmeBlock } from "./_box.ts";

const STORE = "/nix/store/00000000000000000000000000000000";
const PKG = `{ outPath = "${STORE}-forge-coordinator"; meta.mainProgram = "forge-coordinator"; }`;

type Sections = Record<string, Record<string, string | string[]>>;

/** The config a module makes of `services.forge-coordinator` (defaults, and `settings`). */
function moduleConfig(module: "home-manager" | "nixos", settings: string): string {
  return `
    let
      lib = import ${nixPath("tests/nix-stand-in/lib.nix")};
      pkgs = { stdenv.hostPlatform.system = "x86_64-linux"; };
      module = import ${
    nixPath(`nix/${module}.nix`)
  } { self.packages.x86_64-linux.default = ${PKG}; };
      options = (module { config = { }; inherit lib pkgs; }).options.services.forge-coordinator;
      cfg = builtins.mapAttrs (_: o: o.default or null) options // {
        enable = true;
        package = ${PKG};
        user = "me";
        tokenFile = "/home/me/token";
        authorizedUserIds = [ 1001 1002 ];
      } // (${settings});
      config = {
        services.forge-coordinator = cfg;
        home = { profileDirectory = "/home/me/.nix-profile"; homeDirectory = "/home/me"; };
        users.users.me.home = "/home/me";
      };
    in
    (module { inherit config lib pkgs; }).config.content.systemd.user`;
}

const SCHEDULES = `{
  schedules = {
    morning = { onCalendar = "Mon..Fri 07:30"; prompt = "Brief me on today's calendar."; chat = null; persistent = true; };
    odd = { onCalendar = "*-*-* 18:00:00"; prompt = "Say \\"100%\\" and $HOME, -literally-"; chat = -1005; persistent = false; };
  };
}`;

/** home-manager's rendering of a unit: a list value repeats its key. */
function render(unit: Sections): string {
  return Object.entries(unit).map(([section, keys]) =>
    `[${section}]\n` +
    Object.entries(keys).flatMap(([key, value]) =>
      (Array.isArray(value) ? value : [value]).map((v) => `${key}=${v}\n`)
    ).join("")
  ).join("\n");
}

/** A unit file as { section: { key: [values] } }, whatever the order of its sections. */
function sections(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = "";
  for (const line of text.split("\n").map((l) => l.trim()).filter((l) => l !== "")) {
    const header = line.match(/^\[(.+)\]$/);
    if (header) section = header[1];
    else {(out[section] ??= {})[line.slice(0, line.indexOf("="))] = [
        ...(out[section]?.[line.slice(0, line.indexOf("="))] ?? []),
        line.slice(line.indexOf("=") + 1),
      ];}
  }
  return out;
}

/** `systemd-analyze --user verify` of unit files (name → text), none of its lines about them. */
async function verify(units: Record<string, string>): Promise<void> {
  await using dir = await tempDir("coord-schedule-");
  await Deno.mkdir(`${dir.path}/runtime`, { mode: 0o700 });
  const paths = [];
  for (const [name, text] of Object.entries(units)) {
    await Deno.writeTextFile(`${dir.path}/${name}`, text);
    paths.push(`${dir.path}/${name}`);
  }
  const result = await run("systemd-analyze", ["--user", "verify", ...paths], {
    env: { XDG_RUNTIME_DIR: `${dir.path}/runtime`, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  });
  const output = `${result.stdout}${result.stderr}`;
  const about = output.split("\n").filter((l) => /forge-coordinator/.test(l));
  assert.deepEqual(about, [], output);
  assert.equal(result.code, 0, output);
}

Deno.test({
  name: "the package's send and ask run main.ts with deno.json's send flags: no network",
  ignore: needs("nix-instantiate"),
  async fn() {
    const text = (await nixEval(`(${packageExpression("2.9.6")}).text`)) as string;
    const config = JSON.parse(Deno.readTextFileSync(projectPath("deno.json")));
    const words = String(config.tasks.send).split(/\s+/);
    assert.deepEqual(words.slice(-2), ["main.ts", "send"]);
    assert.equal(config.tasks.ask, config.tasks.send.replace(/ send$/, " ask"));
    const flags = [...words.slice(2, -2), "--cached-only"].map((f) => `'${f}'`).join(" ");
    assert.ok(!flags.includes("allow-net"), flags);
    assert.ok(
      text.includes(
        `if [ "\${1:-}" = send ] || [ "\${1:-}" = ask ]; then\n` +
          `  exec ${STORE}-deno/bin/deno run ${flags} --config=${STORE}-forge-coordinator-app/deno.json ` +
          `${STORE}-forge-coordinator-app/main.ts "$@"`,
      ),
      text,
    );
  },
});

Deno.test({
  name:
    "the home-manager module renders a timer and a oneshot service per schedule, and no timer when there are none",
  ignore: needs("nix-instantiate"),
  async fn() {
    const none = await nixEval(moduleConfig("home-manager", "{ }")) as {
      services: Record<string, unknown>;
      timers: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(none.services), ["forge-coordinator"]);
    assert.deepEqual(none.timers, {});
    const some = await nixEval(moduleConfig("home-manager", SCHEDULES)) as {
      services: Record<string, Sections>;
      timers: Record<string, Sections>;
    };
    assert.deepEqual(Object.keys(some.timers), [
      "forge-coordinator-schedule-morning",
      "forge-coordinator-schedule-odd",
    ]);
    const morning = some.services["forge-coordinator-schedule-morning"];
    assert.deepEqual(some.timers["forge-coordinator-schedule-morning"], {
      Unit: { Description: "forge-coordinator schedule morning" },
      Timer: { OnCalendar: "Mon..Fri 07:30", Persistent: "true" },
      Install: { WantedBy: ["timers.target"] },
    });
    assert.equal(morning.Service.Type, "oneshot");
    assert.equal(
      morning.Service.ExecStart,
      `${STORE}-forge-coordinator/bin/forge-coordinator ask --chat 1001 -- "Brief me on today's calendar."`,
    );
    const env = morning.Service.Environment as string[];
    assert.ok(env.includes("COORD_STATE_DIR=%h/.local/state/forge-coordinator"), env.join("\n"));
    assert.ok(env.includes("COORD_AUTHORIZED_USER_IDS=1001,1002"), "what `ask` checks the chat by");
    assert.ok(!env.some((e) => e.startsWith("TELEGRAM_BOT_TOKEN")), "no token, not even its path");
    assert.equal(
      some.services["forge-coordinator-schedule-odd"].Service.ExecStart,
      `${STORE}-forge-coordinator/bin/forge-coordinator ask --chat -1005 -- ` +
        `"Say \\"100%%\\" and $$HOME, -literally-"`,
    );
    assert.equal(some.timers["forge-coordinator-schedule-odd"].Timer.Persistent, "false");
  },
});

Deno.test({
  name: "systemd-analyze verifies each schedule's timer and service, as the module renders them",
  ignore: needs("nix-instantiate", "systemd-analyze"),
  async fn() {
    const some = await nixEval(moduleConfig("home-manager", SCHEDULES)) as {
      services: Record<string, Sections>;
      timers: Record<string, Sections>;
    };
    for (const name of Object.keys(some.timers)) {
      const service = structuredClone(some.services[name]);
      // verify checks that ExecStart's binary exists: an existing one stands in for the store's.
      service.Service.ExecStart = String(service.Service.ExecStart).replace(
        /^\S+/,
        which("env") ?? "/usr/bin/env",
      );
      await verify({
        [`${name}.timer`]: render(some.timers[name]),
        [`${name}.service`]: render(service),
      });
    }
  },
});

Deno.test({
  name: "the NixOS module's schedules run in the bot's user's manager only",
  ignore: needs("nix-instantiate"),
  async fn() {
    const out = await nixEval(moduleConfig("nixos", SCHEDULES)) as {
      services: Record<string, { unitConfig: Record<string, string>; serviceConfig: Sections[""] }>;
      timers: Record<
        string,
        {
          unitConfig: Record<string, string>;
          timerConfig: Record<string, string>;
          wantedBy: string[];
        }
      >;
    };
    const timer = out.timers["forge-coordinator-schedule-morning"];
    assert.deepEqual(timer.timerConfig, { OnCalendar: "Mon..Fri 07:30", Persistent: "true" });
    assert.equal(timer.unitConfig.ConditionUser, "me");
    assert.deepEqual(timer.wantedBy, ["timers.target"]);
    const service = out.services["forge-coordinator-schedule-morning"];
    assert.equal(service.unitConfig.ConditionUser, "me");
    assert.match(String(service.serviceConfig.ExecStart), / ask --chat 1001 -- "Brief me/);
    assert.ok("forge-coordinator" in out.services);
  },
});

Deno.test({
  name: "a schedule whose name can't be a unit's, or whose prompt holds a newline, is refused",
  ignore: needs("nix-instantiate"),
  async fn() {
    for (
      const [schedule, message] of [
        [
          `"a b" = { onCalendar = "daily"; prompt = "x"; chat = null; persistent = true; };`,
          /can't be part of a unit name/,
        ],
        [
          `a = { onCalendar = "daily"; prompt = "x\\ny"; chat = null; persistent = true; };`,
          /can't hold a newline/,
        ],
      ] as const
    ) {
      const result = await run("nix-instantiate", [
        "--eval",
        "--strict",
        "-E",
        moduleConfig("home-manager", `{ schedules = { ${schedule} }; }`),
      ], { env: NIX_ENV });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
    }
  },
});

Deno.test({
  name: "the README's schedules evaluate in the module, and its hand-made timer and service verify",
  ignore: needs("nix-instantiate", "systemd-analyze"),
  async fn() {
    const nix = readmeBlock("## Scheduled asks", "nix");
    const value = nix.slice(nix.indexOf("=") + 1).trim().replace(/;$/, "");
    const out = await nixEval(moduleConfig("home-manager", `{ schedules = ${value}; }`)) as {
      services: Record<string, Sections>;
      timers: Record<string, Sections>;
    };
    assert.deepEqual(Object.keys(out.timers), [
      "forge-coordinator-schedule-backup-check",
      "forge-coordinator-schedule-morning",
    ]);
    const block = readmeBlock("With [the unit by hand](#without-nix-the-unit-by-hand)", "sh");
    const name = "forge-coordinator-schedule-morning";
    const timer = heredoc(block, `${name}.timer <<'EOF'`);
    const service = heredoc(block, `${name}.service <<'EOF'`);
    assert.match(service, /ExecStart=\/usr\/bin\/env deno task .* ask -- "Brief me/);
    // The hand-made timer is the module's, key for key.
    assert.deepEqual(sections(timer), sections(render(out.timers[name])));
    await verify({ [`${name}.timer`]: timer, [`${name}.service`]: service });
  },
});

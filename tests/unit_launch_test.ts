/**
 * Unit tests for `lib/loop/launch.ts`: the handler's command line, permissions and environment.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Config, parseConfig } from "../lib/shared/config.ts";
import { childEnv as brainEnv } from "../lib/shared/child_env.ts";
import { apiHost, handlerLaunch, type HandlerLaunchOptions } from "../lib/loop/launch.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/** A configuration as the poll process would parse it. */
const CONFIG: Config = parseConfig({
  env: {
    TELEGRAM_BOT_TOKEN: TOKEN,
    COORD_AUTHORIZED_USER_IDS: "1001",
    COORD_LOCK_DIR: "/run/user/1000",
    COORD_STATE_DIR: "/home/coord/.local/state/forge-coordinator",
  },
  uid: () => 1000,
  readTextFile: () => "",
  isReadableFile: () => true,
});

const OPTIONS: HandlerLaunchOptions = {
  denoPath: "/usr/local/bin/deno",
  handlerPath: "/opt/coord/handler.ts",
  configPath: "/opt/coord/deno.json",
  env: {
    PATH: "/usr/bin:/bin",
    HOME: "/home/coord",
    TELEGRAM_BOT_TOKEN_FILE: "/run/secrets/token",
    COORD_AUTHORIZED_USER_IDS: "1001",
  },
};

/** The value of `--flag=value` in `args`, if present. */
function flag(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

Deno.test("handlerLaunch() keeps the token out of the arguments and the environment: it is told over the line", () => {
  const launch = handlerLaunch(CONFIG, OPTIONS);
  assert.equal(launch.token, TOKEN, "for the hello on the handler's stdin");
  for (const arg of [launch.command, ...launch.args]) {
    assert.ok(!arg.includes(TOKEN) && !arg.includes("AAHdq"), `the token is in ${arg}`);
  }
  for (const [name, value] of Object.entries(launch.env)) {
    assert.ok(!value.includes("AAHdq"), `the token is in ${name}`);
  }
});

Deno.test("handlerLaunch() removes both token variables and keeps the rest", () => {
  const launch = handlerLaunch(CONFIG, {
    ...OPTIONS,
    env: { ...OPTIONS.env, TELEGRAM_BOT_TOKEN: TOKEN },
  });
  assert.deepEqual(launch.env, {
    PATH: "/usr/bin:/bin",
    HOME: "/home/coord",
    COORD_AUTHORIZED_USER_IDS: "1001",
    COORD_LOCK_DIR: "/run/user/1000",
    COORD_STATE_DIR: "/home/coord/.local/state/forge-coordinator",
    COORD_BRAIN_WORKDIR: "/home/coord/.local/state/forge-coordinator/brain",
  });
  assert.equal("TELEGRAM_BOT_TOKEN_FILE" in OPTIONS.env, true, "the caller's env is not changed");
});

Deno.test("handlerLaunch() runs the handler with the narrowest permissions", () => {
  const launch = handlerLaunch(CONFIG, OPTIONS);
  assert.equal(launch.command, "/usr/local/bin/deno");
  assert.equal(launch.args[0], "run");
  assert.equal(launch.args.at(-1), "/opt/coord/handler.ts");
  assert.equal(flag(launch.args, "config"), "/opt/coord/deno.json");
  assert.equal(flag(launch.args, "allow-net"), "api.telegram.org:443");
  const dirs = "/run/user/1000,/home/coord/.local/state/forge-coordinator";
  assert.equal(flag(launch.args, "allow-read"), dirs);
  assert.equal(flag(launch.args, "allow-write"), dirs);
  assert.ok(launch.args.includes("--no-prompt"));
  const broad = ["--allow-all", "-A", "--allow-net", "--allow-read", "--allow-write"];
  for (const arg of broad) assert.ok(!launch.args.includes(arg), `${arg} without a list`);
  assert.ok(!launch.args.some((a) => a.startsWith("--allow-ffi")));
  assert.deepEqual(
    launch.args.filter((a) => a.startsWith("--allow-sys")),
    ["--allow-sys=uid"],
    "our uid only (the lock folder must be ours)",
  );
  assert.equal(launch.env.COORD_CGROUP, undefined, "no cgroup unless the poll process found one");
});

Deno.test("handlerLaunch() hands the bot's cgroup to handlers, and no permission for it", () => {
  const env = { ...OPTIONS.env, COORD_CGROUP: "/sys/fs/cgroup/forged" };
  assert.equal(handlerLaunch(CONFIG, { ...OPTIONS, env }).env.COORD_CGROUP, undefined);
  const cgroup = "/sys/fs/cgroup/user.slice/forge-coordinator.service";
  const launch = handlerLaunch(CONFIG, { ...OPTIONS, cgroup });
  assert.equal(launch.env.COORD_CGROUP, cgroup);
  assert.ok(!launch.args.some((a) => a.includes("/sys/")), "Deno refuses /sys anyway");
});

Deno.test("handlerLaunch() allows the network for the configured API root only", () => {
  const launch = handlerLaunch({ ...CONFIG, apiRoot: "http://127.0.0.1:8081/tg" }, OPTIONS);
  assert.equal(flag(launch.args, "allow-net"), "127.0.0.1:8081");
});

Deno.test("apiHost() gives host:port with the scheme's default port made explicit", async (t) => {
  const cases: [string, string][] = [
    ["https://api.telegram.org", "api.telegram.org:443"],
    ["http://api.example.com", "api.example.com:80"],
    ["https://api.example.com:8443/bot/root", "api.example.com:8443"],
    ["http://127.0.0.1:8081", "127.0.0.1:8081"],
    ["http://[::1]:9000", "[::1]:9000"],
    ["https://API.Example.COM", "api.example.com:443"],
  ];
  for (const [root, host] of cases) {
    await t.step(root, () => assert.equal(apiHost(root), host));
  }
});

Deno.test("handlerLaunch() and brainEnv() keep systemd's credentials and watchdog to the poll process", () => {
  const systemd = {
    CREDENTIALS_DIRECTORY: "/run/user/1000/credentials/forge-coordinator.service",
    NOTIFY_SOCKET: "/run/user/1000/systemd/notify",
    WATCHDOG_USEC: "60000000",
    WATCHDOG_PID: "4242",
  };
  const launch = handlerLaunch(CONFIG, { ...OPTIONS, env: { ...OPTIONS.env, ...systemd } });
  const brain = brainEnv({ ...OPTIONS.env, ...systemd }, { updateId: 1, chatId: 2, messageId: 3 });
  for (const name of Object.keys(systemd)) {
    assert.equal(name in launch.env, false, `${name} reaches the handler`);
    assert.equal(name in brain, false, `${name} reaches the brain`);
  }
});

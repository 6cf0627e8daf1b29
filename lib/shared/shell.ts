/**
 * A few lines of `/bin/sh` run with a bare environment: what the bot does outside Deno's
 * permissions (Deno refuses reads under `/proc` and `/sys` without `--allow-all`), the cgroups and
 * the sweep of marked processes.
 *
 * @module
 */

/** Options for {@linkcode runShell}. */
export interface RunShellOptions {
  /** The shell. Default: "/bin/sh". */
  shell?: string;
  /** The script's arguments, `$1` and on. Default: none. */
  args?: readonly string[];
}

/** What the script came to. */
export interface ShellOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `script` with `args` and only a system `PATH` and the C locale; stdin is empty. */
export async function runShell(
  script: string,
  options: RunShellOptions = {},
): Promise<ShellOutput> {
  const { shell = "/bin/sh", args = [] } = options;
  const output = await new Deno.Command(shell, {
    args: ["-c", script, "forge-coordinator", ...args],
    env: { PATH: "/usr/bin:/bin:/run/current-system/sw/bin", LC_ALL: "C" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Unit tests for `lib/handler/transcribe.ts`: the audio fetched from the Bot API simulator and run
 * through the stub transcriber (`tests/stubs/transcribe.sh`), in a temp dir.
 *
 * @module
 */

import assert from "node:assert/strict";
import { transcribe, type TranscribeOptions } from "../lib/handler/transcribe.ts";
import { createApi } from "../lib/shared/telegram.ts";
import { BotApiSimulator, STUB_TRANSCRIBER, tempDir, withDeadline } from "./_helpers.ts";

/** A simulator holding `audio` as a file, and the options to transcribe it into a temp dir. */
async function rig(audio: string) {
  const sim = await BotApiSimulator.start();
  const dir = await tempDir();
  const fileId = sim.addFile(new TextEncoder().encode(audio));
  const options = (extra: Partial<TranscribeOptions> = {}): TranscribeOptions => ({
    api: createApi(sim.token, { apiRoot: sim.apiRoot }),
    token: sim.token,
    apiRoot: sim.apiRoot,
    fileId,
    command: [STUB_TRANSCRIBER],
    workDir: `${dir.path}/voice`,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    timeoutMs: 10_000,
    download: { timeoutMs: 10_000 },
    ...extra,
  });
  return {
    sim,
    options,
    /** What is left in the work folder. */
    left: () => [...Deno.readDirSync(`${dir.path}/voice`)].map((e) => e.name),
    async [Symbol.asyncDispose]() {
      await sim.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("transcribe() gives the transcriber's text, and removes the audio", async () => {
  await using r = await rig("good morning");
  const transcript = await withDeadline(transcribe(r.options()), "the transcript");
  assert.deepEqual(transcript, { ok: true, text: "heard: good morning" });
  assert.deepEqual(r.left(), [], "the audio is removed");
});

Deno.test("transcribe() says why when the transcriber fails, with what it printed", async () => {
  await using r = await rig("fail");
  const transcript = await withDeadline(transcribe(r.options()), "the transcript");
  assert.deepEqual(transcript, {
    ok: false,
    reason: "the transcriber exited with status 2",
    detail: "cannot decode the audio",
  });
  assert.deepEqual(r.left(), [], "the audio is removed");
});

Deno.test("transcribe() calls an empty transcript a failure", async () => {
  await using r = await rig("silence");
  const transcript = await withDeadline(transcribe(r.options()), "the transcript");
  assert.deepEqual(transcript, { ok: false, reason: "the transcript was empty" });
});

Deno.test("transcribe() gives up a download that outlives its deadline, naming it, and runs no transcriber", async () => {
  await using r = await rig("never heard");
  r.sim.injectFault({ method: "file/download", fault: { kind: "hang" } });
  const marker = await Deno.makeTempFile();
  try {
    const transcript = await withDeadline(
      transcribe(r.options({
        download: { timeoutMs: 300 },
        // Would leave a mark if it ran.
        command: ["bash", "-c", `echo ran > "${marker}"; echo text`, "transcriber"],
      })),
      "the download to time out",
    );
    assert.deepEqual(transcript, {
      ok: false,
      reason: "the download of the audio took longer than 0.3 s",
    });
    assert.equal(Deno.readTextFileSync(marker), "", "the transcriber did not run");
    assert.deepEqual(r.left(), [], "nothing is left of the audio");
  } finally {
    await Deno.remove(marker);
  }
});

Deno.test("transcribe() ends a transcriber that outlives its limit", async () => {
  await using r = await rig("slow");
  const transcript = await withDeadline(
    transcribe(r.options({ command: ["bash", "-c", "sleep 30", "transcriber"], timeoutMs: 300 })),
    "the transcriber to time out",
  );
  assert.equal(transcript.ok, false);
  assert.match(
    (transcript as { reason: string }).reason,
    /^the transcriber timed out after 0\.3 s/,
  );
});

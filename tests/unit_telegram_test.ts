/**
 * Unit tests for `lib/shared/telegram.ts`: sorting failures (`classifyFailure()`), saying what
 * failed without the token (`describeError()`), and `enablePatience()`. The failures are real
 * grammY errors: a grammY `Api` whose `fetch` is a scripted fake transport (no network) answers
 * as Telegram does, JSON envelopes, the front proxy's HTML page, a refused connection.
 *
 * @module
 */

import assert from "node:assert/strict";
import { InputFile } from "grammy/web";
import {
  Api,
  apiSignal,
  classifyFailure,
  createApi,
  describeError,
  enablePatience,
  GrammyError,
  HttpError,
  isBadRequest,
  PatienceError,
  type PatienceOptions,
} from "../lib/shared/telegram.ts";
import { BotApiSimulator, withDeadline } from "./_helpers.ts";

const TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const API_ROOT = "https://api.telegram.org";

/**
 * One scripted answer: a Bot API envelope (sent with its `error_code` as the HTTP status), the
 * front proxy's HTML 502, a refused connection (Deno's error names the URL, token included), or
 * a request that hangs until it is aborted.
 */
type Answer =
  | { ok: true; result: unknown }
  | { ok: false; error_code: number; description: string; parameters?: object }
  | "html 502"
  | "refused"
  | "hang";

const HTML_502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n" +
  "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n" +
  "</body>\r\n</html>\r\n";

/** A Bot API envelope of a refusal. */
function refused(code: number, description: string, parameters?: object): Answer {
  return { ok: false, error_code: code, description, ...(parameters && { parameters }) };
}

/** A fake transport for grammY's `fetch` option: answers from a script, counts the requests. */
class FakeTransport {
  requests = 0;
  #script: Answer[];
  #onRequest: () => void;

  constructor(script: Answer[], onRequest: () => void = () => {}) {
    this.#script = [...script];
    this.#onRequest = onRequest;
  }

  readonly fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    this.requests++;
    this.#onRequest();
    const answer = this.#script.shift() ?? "hang";
    const url = String(input);
    if (answer === "refused") {
      return Promise.reject(
        new TypeError(
          `error sending request for url (${url}): client error (Connect): tcp connect error: Connection refused (os error 111)`,
        ),
      );
    }
    if (answer === "hang") {
      const signal = init?.signal;
      return new Promise((_, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    if (answer === "html 502") {
      return Promise.resolve(
        new Response(HTML_502, { status: 502, headers: { "content-type": "text/html" } }),
      );
    }
    const status = answer.ok ? 200 : answer.error_code;
    return Promise.resolve(
      new Response(JSON.stringify(answer), {
        status,
        headers: { "content-type": "application/json" },
      }),
    );
  };
}

/** A grammY `Api` with the token, talking to `transport`. */
function apiOver(transport: FakeTransport): Api {
  return new Api(TOKEN, { apiRoot: API_ROOT, fetch: transport.fetch as typeof fetch });
}

/** What grammY throws for one call (`getMe` unless `call` says) answered with `answer`. */
async function failureOf(
  answer: Answer,
  call: (api: Api) => Promise<unknown> = (api) => api.getMe(),
): Promise<unknown> {
  try {
    await call(apiOver(new FakeTransport([answer])));
  } catch (error) {
    return error;
  }
  throw new Error(`the call did not fail with ${JSON.stringify(answer)}`);
}

const ME = { id: 123456789, is_bot: true, first_name: "Forge", username: "forge_bot" };

Deno.test("classifyFailure() sorts each Bot API failure once: fatal, wait, back off or permanent", async (t) => {
  const cases: [string, Answer, ReturnType<typeof classifyFailure>][] = [
    ["401: the token is refused, fatal", refused(401, "Unauthorized"), {
      kind: "fatal",
      code: 401,
      summary: "getMe: 401 Unauthorized",
    }],
    ["404 from getMe: not a token Telegram knows, fatal", refused(404, "Not Found"), {
      kind: "fatal",
      code: 404,
      summary: "getMe: 404 Not Found",
    }],
    [
      "429: waits retry_after",
      refused(429, "Too Many Requests: retry after 7", { retry_after: 7 }),
      {
        kind: "wait",
        ms: 7000,
        summary: "getMe: 429 Too Many Requests: retry after 7",
      },
    ],
    ["429 without retry_after: waits a second", refused(429, "Too Many Requests"), {
      kind: "wait",
      ms: 1000,
      summary: "getMe: 429 Too Many Requests",
    }],
    [
      "409 from a second poller: backs off",
      refused(409, "Conflict: terminated by other getUpdates request"),
      { kind: "backoff", summary: "getMe: 409 Conflict: terminated by other getUpdates request" },
    ],
    ["a JSON 500: backs off", refused(500, "Internal Server Error: restart"), {
      kind: "backoff",
      summary: "getMe: 500 Internal Server Error: restart",
    }],
    ["the front proxy's HTML 502: backs off", "html 502", {
      kind: "backoff",
      summary: "Network request for 'getMe' failed! (the answer was not JSON)",
    }],
    ["a refused connection: backs off, the URL left out", "refused", {
      kind: "backoff",
      summary: "Network request for 'getMe' failed! (error sending request for url (<url>): " +
        "client error (Connect): tcp connect error: Connection refused (os error 111))",
    }],
    ["400: permanent", refused(400, "Bad Request: chat not found"), {
      kind: "permanent",
      code: 400,
      summary: "getMe: 400 Bad Request: chat not found",
    }],
    ["403: permanent", refused(403, "Forbidden: bot was blocked by the user"), {
      kind: "permanent",
      code: 403,
      summary: "getMe: 403 Forbidden: bot was blocked by the user",
    }],
  ];
  for (const [name, answer, verdict] of cases) {
    await t.step(name, async () => {
      assert.deepEqual(classifyFailure(await failureOf(answer)), verdict);
    });
  }
  await t.step("404 from getUpdates: fatal too; from any other method: permanent", async () => {
    const notFound = refused(404, "Not Found");
    const poll = await failureOf(notFound, (api) => api.getUpdates());
    assert.deepEqual(classifyFailure(poll), {
      kind: "fatal",
      code: 404,
      summary: "getUpdates: 404 Not Found",
    });
    const send = await failureOf(notFound, (api) => api.sendMessage(1, "hi"));
    assert.deepEqual(classifyFailure(send), {
      kind: "permanent",
      code: 404,
      summary: "sendMessage: 404 Not Found",
    });
  });
  await t.step("something thrown that is not an error: backs off", () => {
    assert.deepEqual(classifyFailure("boom"), { kind: "backoff", summary: "boom" });
  });
});

Deno.test("describeError() says what failed without any URL, so never the token", async (t) => {
  await t.step("grammY's own errors", async () => {
    for (const answer of ["refused", "html 502"] as const) {
      const error = await failureOf(answer);
      assert.ok(error instanceof HttpError);
      const line = describeError(error);
      assert.ok(!line.includes(TOKEN) && !line.includes("AAHdq"), line);
      assert.ok(!line.includes(API_ROOT), line);
    }
  });
  await t.step("an HttpError whose cause names a URL", () => {
    const cause = new TypeError(`error sending request for url (${API_ROOT}/bot${TOKEN}/getMe)`);
    assert.equal(
      describeError(new HttpError("Network request for 'getMe' failed!", cause)),
      "Network request for 'getMe' failed! (error sending request for url (<url>))",
    );
  });
  await t.step("an HttpError whose cause is not an error", () => {
    assert.equal(
      describeError(new HttpError("Network request for 'getMe' failed!", "timeout")),
      "Network request for 'getMe' failed! (timeout)",
    );
  });
  await t.step("any other error: its name, URLs left out", () => {
    const error = new RangeError(`bad answer from http://127.0.0.1:8081/bot${TOKEN}/sendMessage`);
    assert.equal(describeError(error), "RangeError: bad answer from <url>");
  });
  await t.step("a value that is not an error", () => {
    assert.equal(describeError(42), "42");
  });
});

Deno.test("isBadRequest() is true for a 400 whose description matches, only", async () => {
  const gone = await failureOf(refused(400, "Bad Request: message to edit not found"));
  assert.equal(isBadRequest(gone, /message to edit not found/), true);
  assert.equal(isBadRequest(gone, /REACTION_INVALID/), false);
  const forbidden = await failureOf(refused(403, "Forbidden: message to edit not found"));
  assert.equal(isBadRequest(forbidden, /message to edit not found/), false);
  assert.equal(isBadRequest(await failureOf("refused"), /refused/), false);
});

Deno.test("apiSignal() hands grammY the very signal it is given", () => {
  const signal = new AbortController().signal;
  assert.equal(apiSignal(signal), signal);
  assert.equal(apiSignal(undefined), undefined);
});

/** An `Api` over `transport` with patience, recording each retry it announces. */
function patientApi(transport: FakeTransport, options: Partial<PatienceOptions> = {}) {
  const retries: { method: string; summary: string; waitMs: number }[] = [];
  const api = apiOver(transport);
  enablePatience(api, {
    patienceMs: 60_000,
    backoffBaseMs: 1,
    backoffMaxMs: 1,
    random: () => 0,
    now: () => 0,
    onRetry: (info) => retries.push(info),
    ...options,
  });
  return { api, retries };
}

Deno.test("enablePatience() waits out a 502 page, a refused connection, a 409, a 5xx and a 429 until the call succeeds", async () => {
  const transport = new FakeTransport([
    "html 502",
    "refused",
    refused(409, "Conflict: terminated by other getUpdates request"),
    refused(500, "Internal Server Error: restart"),
    refused(429, "Too Many Requests: retry after 0", { retry_after: 0 }),
    { ok: true, result: ME },
  ]);
  const { api, retries } = patientApi(transport, { backoffBaseMs: 2, backoffMaxMs: 4 });
  assert.deepEqual(await withDeadline(api.getMe(), "getMe", 5000), ME);
  assert.equal(transport.requests, 6);
  assert.deepEqual(retries.map((r) => [r.method, r.waitMs]), [
    ["getMe", 1], // 2 ms at first, with random() = 0: the lower half
    ["getMe", 2], // doubled
    ["getMe", 2], // at most backoffMaxMs (4), halved
    ["getMe", 2],
    ["getMe", 0], // retry_after 0, no jitter
  ]);
  assert.match(retries[0].summary, /the answer was not JSON/);
  assert.match(retries[2].summary, /^getMe: 409 Conflict/);
  for (const { summary } of retries) assert.ok(!summary.includes("AAHdq"), summary);
});

Deno.test("enablePatience() takes its waits from the injected random: retry_after plus up to 1 s, and the back-off's jitter", async (t) => {
  const cases: [string, Answer, Partial<PatienceOptions>, number][] = [
    ["a 429", refused(429, "Too Many Requests: retry after 5", { retry_after: 5 }), {}, 5250],
    ["a 502 page", "html 502", { backoffBaseMs: 1000, backoffMaxMs: 60_000 }, 625],
  ];
  for (const [name, answer, options, waitMs] of cases) {
    await t.step(name, async () => {
      // The wait is stopped as soon as it is announced: the test never waits it out.
      const stop = new AbortController();
      const transport = new FakeTransport([answer]);
      const { api, retries } = patientApi(transport, {
        ...options,
        random: () => 0.25,
        onRetry: (info) => {
          retries.push(info);
          stop.abort(new Error("stop"));
        },
      });
      await assert.rejects(withDeadline(api.getMe(apiSignal(stop.signal)), "getMe", 5000), /stop/);
      assert.deepEqual(retries.map((r) => r.waitMs), [waitMs]);
    });
  }
});

Deno.test("enablePatience() gives up with PatienceError once the injected clock passes the patience", async () => {
  let clock = 50_000;
  // Each request takes 3 s on the fake clock: requests at 0, 3, 6 and 9 s retry, the 4th ends
  // at 12 s, past the 10 s of patience.
  const transport = new FakeTransport(Array(10).fill("refused"), () => clock += 3000);
  const { api, retries } = patientApi(transport, { patienceMs: 10_000, now: () => clock });
  const error = await withDeadline(api.getMe().catch((e) => e), "getMe", 5000);
  assert.ok(error instanceof PatienceError, String(error));
  assert.equal(error.name, "PatienceError");
  assert.equal(transport.requests, 4);
  assert.equal(retries.length, 3);
  assert.match(
    error.message,
    /^getMe kept failing for 10 s; last: Network request for 'getMe' failed! \(error sending request for url \(<url>\): client error/,
  );
  assert.ok(!error.message.includes("AAHdq"), error.message);
});

Deno.test("enablePatience() gives up at once when Telegram asks for a wait longer than the patience", async () => {
  const transport = new FakeTransport([
    refused(429, "Too Many Requests: retry after 60", { retry_after: 60 }),
    { ok: true, result: ME },
  ]);
  const { api, retries } = patientApi(transport, { patienceMs: 30_000 });
  await assert.rejects(
    withDeadline(api.getMe(), "getMe", 5000),
    (error) => error instanceof PatienceError && /retry after 60/.test(error.message),
  );
  assert.equal(transport.requests, 1);
  assert.deepEqual(retries, []);
});

Deno.test("enablePatience() never retries a permanent or fatal failure", async (t) => {
  const answers = [
    refused(400, "Bad Request: chat not found"),
    refused(403, "Forbidden: bot was blocked by the user"),
    refused(404, "Not Found"),
    refused(401, "Unauthorized"),
  ];
  for (const answer of answers) {
    const code = (answer as { error_code: number }).error_code;
    await t.step(String(code), async () => {
      const transport = new FakeTransport([answer, { ok: true, result: ME }]);
      const { api, retries } = patientApi(transport);
      await assert.rejects(
        withDeadline(api.sendMessage(1001, "hi"), "sendMessage", 5000),
        (error) => error instanceof GrammyError && error.error_code === code,
      );
      assert.equal(transport.requests, 1);
      assert.deepEqual(retries, []);
    });
  }
});

Deno.test("enablePatience() stops at once, with the signal's reason, when the signal aborts mid-wait", async () => {
  const transport = new FakeTransport(["html 502", { ok: true, result: ME }]);
  const waiting = Promise.withResolvers<void>();
  const { api } = patientApi(transport, {
    // A back-off of at least 30 s: only the abort can end it within the test's deadline.
    backoffBaseMs: 60_000,
    backoffMaxMs: 60_000,
    onRetry: () => waiting.resolve(),
  });
  const stop = new AbortController();
  const call = api.getMe(apiSignal(stop.signal));
  call.catch(() => {});
  await withDeadline(waiting.promise, "the first retry's wait");
  const reason = new Error("shutting down");
  stop.abort(reason);
  await assert.rejects(withDeadline(call, "getMe after the abort", 2000), (e) => e === reason);
  assert.equal(transport.requests, 1);
});

Deno.test("enablePatience() does not retry a request its own signal aborted", async () => {
  const transport = new FakeTransport(["hang", { ok: true, result: ME }]);
  const { api, retries } = patientApi(transport);
  const stop = new AbortController();
  const call = api.getMe(apiSignal(stop.signal));
  call.catch(() => {});
  stop.abort(new Error("shutting down"));
  await assert.rejects(withDeadline(call, "getMe after the abort", 2000), HttpError);
  assert.equal(transport.requests, 1);
  assert.deepEqual(retries, []);
});

Deno.test("createApi(): every text the bot sends passes the log's redaction", async (t) => {
  await using sim = await BotApiSimulator.start();
  const api = createApi(sim.token, { apiRoot: sim.apiRoot });
  const chat = 1001;
  sim.sendText(chat, "hi");
  const other = "987654321:ZZxq7TcvCH1vGWJxfSeofSAs0K5PALDsaw";
  const quoted = `getFile failed: https://api.telegram.org/file/bot${sim.token}/x and ${other}`;
  await t.step("a message's text and its buttons", async () => {
    await api.sendMessage(chat, quoted, {
      reply_markup: { inline_keyboard: [[{ text: `stop ${sim.token}`, callback_data: "stop:1" }]] },
    });
    const [message] = sim.botMessages(chat);
    assert.equal(
      message.text,
      "getFile failed: https://api.telegram.org/file/bot[redacted]/x and [redacted]",
    );
    assert.equal(message.reply_markup?.inline_keyboard[0][0].text, "stop [redacted]");
  });
  await t.step("a document's caption, name and text content", async () => {
    const bytes = new TextEncoder().encode(`the answer\n${quoted}\n`);
    await api.sendDocument(chat, new InputFile(bytes, `answer-${sim.token}.md`), {
      caption: quoted,
    });
    const sent = sim.botMessages(chat).at(-1)!;
    assert.equal(
      new TextDecoder().decode(sent.document?.bytes),
      "the answer\ngetFile failed: https://api.telegram.org/file/bot[redacted]/x and [redacted]\n",
    );
    assert.equal(sent.document?.file_name, "answer-[redacted].md");
    const call = sim.calls.findLast((c) => c.method === "sendDocument")!;
    assert.ok(String(call.params.caption).includes("bot[redacted]/x"), String(call.params.caption));
  });
  await t.step("bytes that are not text are sent as they are", async () => {
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x31]);
    await api.sendDocument(chat, new InputFile(bytes, "blob.bin"));
    assert.deepEqual(sim.botMessages(chat).at(-1)!.document?.bytes, bytes);
  });
  assert.deepEqual(
    sim.calls.filter((c) => JSON.stringify(c.params).includes(sim.token)).map((c) => c.method),
    [],
    "nothing the bot sent holds the token",
  );
});

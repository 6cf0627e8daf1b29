// Ack-path probe: no imports; two requests in a row to the URL in argv (a cold, then a warm
// connection).
const url = Deno.args[0];
for (let i = 0; i < 2; i++) await (await fetch(url)).body?.cancel();

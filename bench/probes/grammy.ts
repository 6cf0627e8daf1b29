// Ack-path probe: loads grammY's web build, as the handler does, and makes one call with it.
import { Api } from "grammy/web";

const [apiRoot, token] = Deno.args;
await new Api(token, { apiRoot }).getMe();

/**
 * The type of every field of an update the bot reads, as a table, and the check that holds an
 * update to it before anything uses it. Updates come from the network: a field of the wrong type
 * (a number where a file name should be, a string where a chat should be) makes the update
 * malformed, and it is skipped with a reason naming the field, never thrown on further down.
 *
 * Only the fields the bot reads are listed; any other field may hold anything. A field that is
 * absent passes unless the table requires it.
 *
 * @module
 */

/** What one field must hold. */
export type FieldType =
  | "string"
  | "boolean"
  /** A safe integer. */
  | "integer"
  /** A safe integer, 0 or more (ids, sizes). */
  | "count"
  /** Anything (only whether it is there is read). */
  | "any"
  /** A JSON object, with its own fields' types; `required` fields must be there. */
  | { fields: Readonly<Record<string, FieldType>>; required?: readonly string[] }
  /** A list whose every item has this type. */
  | { items: FieldType };

const USER: FieldType = {
  fields: {
    id: "count",
    is_bot: "boolean",
    first_name: "string",
    last_name: "string",
    username: "string",
  },
  required: ["id"],
};

const CHAT: FieldType = {
  fields: { id: "integer", type: "string", title: "string", username: "string" },
  required: ["id"],
};

const FILE: FieldType = {
  fields: {
    file_id: "string",
    file_unique_id: "string",
    file_size: "count",
    file_name: "string",
    mime_type: "string",
  },
  required: ["file_id"],
};

const ORIGIN: FieldType = {
  fields: {
    type: "string",
    date: "integer",
    sender_user: USER,
    sender_user_name: "string",
    sender_chat: CHAT,
    chat: CHAT,
    author_signature: "string",
  },
};

const ENTITIES: FieldType = {
  items: { fields: { type: "string", offset: "count", length: "count" } },
};

/** The fields of a message that other messages carry along (a reply's, a button's). */
const MESSAGE_CORE = {
  message_id: "count",
  chat: CHAT,
  from: USER,
  date: "integer",
  text: "string",
  caption: "string",
} as const satisfies Record<string, FieldType>;

const NESTED_MESSAGE: FieldType = { fields: MESSAGE_CORE, required: ["message_id", "chat"] };

const RECORD: FieldType = { fields: {} };

const MESSAGE: FieldType = {
  fields: {
    ...MESSAGE_CORE,
    sender_chat: CHAT,
    edit_date: "integer",
    message_thread_id: "integer",
    entities: ENTITIES,
    caption_entities: ENTITIES,
    photo: { items: FILE },
    document: FILE,
    voice: FILE,
    audio: FILE,
    forward_origin: ORIGIN,
    forward_from: USER,
    forward_from_chat: CHAT,
    forward_sender_name: "string",
    forward_signature: "string",
    forward_date: "integer",
    is_automatic_forward: "boolean",
    via_bot: USER,
    reply_to_message: NESTED_MESSAGE,
    quote: { fields: { text: "string" } },
    // Read only for whether they are there (the reply says what can't be taken).
    sticker: RECORD,
    video: RECORD,
    video_note: RECORD,
    animation: RECORD,
    location: RECORD,
    contact: RECORD,
    poll: RECORD,
    dice: RECORD,
  },
  required: ["message_id", "chat"],
};

/** The kinds of update the bot reads, and the type of each. */
export const UPDATE_KINDS: Readonly<Record<string, FieldType>> = {
  message: MESSAGE,
  edited_message: MESSAGE,
  callback_query: {
    fields: {
      id: "string",
      from: USER,
      message: NESTED_MESSAGE,
      inline_message_id: "string",
      chat_instance: "string",
      data: "string",
    },
    required: ["id", "from"],
  },
  stopped_message_generation: {
    fields: { chat: CHAT, draft_id: "integer", message_thread_id: "integer" },
    required: ["chat"],
  },
};

/** Where a value is checked: its type in the table, and its path for the reason. */
export interface FieldAt {
  /** The type the table gives it. Required. */
  type: FieldType;
  /** Its path in the update, as the reason names it (`message`, `message.photo[0]`). Required. */
  path: string;
}

/**
 * Where `value` breaks the table (`message.document.file_name is not a string`), or `undefined`
 * when every field it holds has its type. Never throws.
 */
export function checkFields(value: unknown, at: FieldAt): string | undefined {
  const { type, path } = at;
  if (typeof type === "string") return checkScalar(value, at);
  if ("items" in type) {
    if (!Array.isArray(value)) return `${path} is not a list`;
    for (const [i, item] of value.entries()) {
      const problem = checkFields(item, { type: type.items, path: `${path}[${i}]` });
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (!isRecord(value)) return `${path} is not an object`;
  for (const name of type.required ?? []) {
    if (value[name] === undefined) return `${path}.${name} is missing`;
  }
  for (const [name, fieldType] of Object.entries(type.fields)) {
    if (!Object.hasOwn(value, name) || value[name] === undefined) continue;
    const problem = checkFields(value[name], { type: fieldType, path: `${path}.${name}` });
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function checkScalar(value: unknown, { type, path }: FieldAt): string | undefined {
  switch (type) {
    case "string":
      return typeof value === "string" ? undefined : `${path} is not a string`;
    case "boolean":
      return typeof value === "boolean" ? undefined : `${path} is not a boolean`;
    case "integer":
      return isInteger(value) ? undefined : `${path} is not an integer`;
    case "count":
      return isId(value) ? undefined : `${path} is not an integer of 0 or more`;
    default:
      return undefined;
  }
}

/** True for a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True for a safe integer. */
export function isInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

/** True for a safe integer of 0 or more. */
export function isId(value: unknown): value is number {
  return isInteger(value) && value >= 0;
}

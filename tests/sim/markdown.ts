/**
 * Telegram's `parse_mode` parsers, reduced to what decides whether a message is accepted and what
 * text a person then sees. Modelled on tdlib's `parse_markdown`, `parse_markdown_v2` and
 * `parse_html`: the same scan, the same error texts, byte offsets in UTF-8. Entities themselves
 * are not built.
 *
 * @module
 */

/** The result of parsing: the text a person sees, or Telegram's reason for refusing it. */
export type FormattedText = { text: string; error?: undefined } | {
  text?: undefined;
  error: string;
};

const SUPPORTED_PARSE_MODES = new Set(["", "markdown", "markdownv2", "html"]);

/** Whether the Bot API server knows `parseMode` (compared case-insensitively, as the server does). */
export function isSupportedParseMode(parseMode: string): boolean {
  return SUPPORTED_PARSE_MODES.has(parseMode.toLowerCase());
}

/**
 * Why Telegram would refuse `text` sent with `parseMode`, as the detail that follows
 * `Bad Request: can't parse entities: `, or `undefined` when it parses. An unknown mode gives the
 * server's `unsupported parse_mode`.
 */
export function parseEntitiesError(text: string, parseMode: string): string | undefined {
  if (!isSupportedParseMode(parseMode)) return "unsupported parse_mode";
  return parseFormattedText(text, parseMode).error;
}

/** Parses `text` in `parseMode` (absent or empty: plain text) into what a person would see. */
export function parseFormattedText(text: string, parseMode?: string): FormattedText {
  switch (parseMode?.toLowerCase() ?? "") {
    case "":
      return { text };
    case "markdown":
      return parseMarkdown(text);
    case "markdownv2":
      return parseMarkdownV2(text);
    case "html":
      return parseHtml(text);
    default:
      return { error: "unsupported parse_mode" };
  }
}

/** Code points of `text` with the UTF-8 byte offset of each (and one past the end). */
function scan(text: string): { chars: string[]; offsets: number[] } {
  const chars = Array.from(text);
  const offsets = new Array<number>(chars.length + 1);
  let offset = 0;
  for (let i = 0; i < chars.length; i++) {
    offsets[i] = offset;
    const point = chars[i].codePointAt(0)!;
    offset += point < 0x80 ? 1 : point < 0x800 ? 2 : point < 0x10000 ? 3 : 4;
  }
  offsets[chars.length] = offset;
  return { chars, offsets };
}

function isSpace(char: string | undefined): boolean {
  return char === " " || char === "\t" || char === "\n" || char === "\r";
}

/** After an opening ```: skips the language and one line break, returning the new index. */
function skipPreHeader(chars: string[], start: number): number {
  let i = start;
  let languageEnd = i;
  while (languageEnd < chars.length && !isSpace(chars[languageEnd]) && chars[languageEnd] !== "`") {
    languageEnd++;
  }
  if (i !== languageEnd && languageEnd < chars.length && chars[languageEnd] !== "`") {
    i = languageEnd;
  }
  if (chars[i] === "\n" || chars[i] === "\r") {
    const pair = (chars[i + 1] === "\n" || chars[i + 1] === "\r") && chars[i] !== chars[i + 1];
    i += pair ? 2 : 1;
  }
  return i;
}

function parseMarkdown(text: string): FormattedText {
  const { chars, offsets } = scan(text);
  const size = chars.length;
  let result = "";
  for (let i = 0; i < size; i++) {
    const c = chars[i];
    if (c === "\\" && "_*`[".includes(chars[i + 1] ?? "\0")) {
      result += chars[++i];
      continue;
    }
    if (c !== "_" && c !== "*" && c !== "`" && c !== "[") {
      result += c;
      continue;
    }
    const begin = offsets[i];
    const end = c === "[" ? "]" : c;
    i++;
    let isPre = false;
    if (c === "`" && chars[i] === "`" && chars[i + 1] === "`") {
      isPre = true;
      i = skipPreHeader(chars, i + 2);
    }
    while (
      i < size && (chars[i] !== end || (isPre && !(chars[i + 1] === "`" && chars[i + 2] === "`")))
    ) {
      result += chars[i++];
    }
    if (i >= size) {
      return { error: `Can't find end of the entity starting at byte offset ${begin}` };
    }
    if (c === "[" && chars[i + 1] === "(") {
      // tdlib takes the URL up to ")" or the end of the text, without complaint
      i += 2;
      while (i < size && chars[i] !== ")") i++;
    }
    if (isPre) i += 2;
  }
  return { text: result };
}

type V2Type =
  | "Bold"
  | "Italic"
  | "Underline"
  | "Strikethrough"
  | "Spoiler"
  | "Code"
  | "Pre"
  | "PreCode"
  | "TextUrl"
  | "CustomEmoji";

function reserved(char: string): FormattedText {
  return { error: `Character '${char}' is reserved and must be escaped with the preceding '\\'` };
}

function isEscapable(char: string | undefined): boolean {
  if (char === undefined) return false;
  const point = char.codePointAt(0)!;
  return point > 0 && point <= 126;
}

function parseMarkdownV2(text: string): FormattedText {
  const { chars, offsets } = scan(text);
  const size = chars.length;
  const stack: { type: V2Type; byteOffset: number }[] = [];
  let result = "";
  for (let i = 0; i < size; i++) {
    const c = chars[i];
    if (c === "\\" && isEscapable(chars[i + 1])) {
      result += chars[++i];
      continue;
    }
    const top = stack.at(-1)?.type;
    const inCode = top === "Code" || top === "Pre" || top === "PreCode";
    const reservedChars = inCode ? "`" : "_*[]()~`>#+-=|{}.!";
    if (!reservedChars.includes(c)) {
      result += c;
      continue;
    }
    // a block quote starts with ">" (or "**>" for an expandable one) at the start of a line
    const lineStart = i === 0 || chars[i - 1] === "\n";
    if (!inCode && lineStart && c === ">") continue;
    if (!inCode && lineStart && c === "*" && chars[i + 1] === "*" && chars[i + 2] === ">") {
      i += 2;
      continue;
    }
    // "||" right before a line break or the end closes an expandable block quote
    if (
      !inCode && top !== "Spoiler" && c === "|" && chars[i + 1] === "|" &&
      (i + 2 === size || chars[i + 2] === "\n")
    ) {
      i++;
      continue;
    }
    let isEnd = false;
    switch (top) {
      case "Bold":
        isEnd = c === "*";
        break;
      case "Italic":
        isEnd = c === "_" && chars[i + 1] !== "_";
        break;
      case "Code":
        isEnd = c === "`";
        break;
      case "Pre":
      case "PreCode":
        isEnd = c === "`" && chars[i + 1] === "`" && chars[i + 2] === "`";
        break;
      case "TextUrl":
      case "CustomEmoji":
        isEnd = c === "]";
        break;
      case "Underline":
        isEnd = c === "_" && chars[i + 1] === "_";
        break;
      case "Strikethrough":
        isEnd = c === "~";
        break;
      case "Spoiler":
        isEnd = c === "|" && chars[i + 1] === "|";
        break;
    }
    if (!isEnd) {
      const byteOffset = offsets[i];
      let type: V2Type;
      switch (c) {
        case "_":
          if (chars[i + 1] === "_") {
            i++;
            type = "Underline";
          } else {
            type = "Italic";
          }
          break;
        case "*":
          type = "Bold";
          break;
        case "~":
          type = "Strikethrough";
          break;
        case "|":
          if (chars[i + 1] !== "|") return reserved(c);
          i++;
          type = "Spoiler";
          break;
        case "[":
          type = "TextUrl";
          break;
        case "`":
          if (chars[i + 1] === "`" && chars[i + 2] === "`") {
            const afterTicks = i + 3;
            const next = skipPreHeader(chars, afterTicks);
            type = next > afterTicks && !isSpace(chars[afterTicks]) ? "PreCode" : "Pre";
            i = next - 1;
          } else {
            type = "Code";
          }
          break;
        case "!":
          if (chars[i + 1] !== "[") return reserved(c);
          i++;
          type = "CustomEmoji";
          break;
        default:
          return reserved(c);
      }
      stack.push({ type, byteOffset });
      continue;
    }
    const type = stack.pop()!.type;
    switch (type) {
      case "Underline":
      case "Spoiler":
        i++;
        break;
      case "Pre":
      case "PreCode":
        i += 2;
        break;
      case "TextUrl":
      case "CustomEmoji": {
        if (chars[i + 1] !== "(") {
          if (type === "CustomEmoji") {
            return { error: "Custom emoji entity must contain a tg://emoji URL" };
          }
          break;
        }
        i += 2;
        const urlBegin = offsets[i];
        while (i < size && chars[i] !== ")") {
          i += chars[i] === "\\" && isEscapable(chars[i + 1]) ? 2 : 1;
        }
        if (i >= size) {
          const what = type === "CustomEmoji" ? "a custom emoji URL" : "a URL";
          return { error: `Can't find end of ${what} at byte offset ${urlBegin}` };
        }
        break;
      }
    }
  }
  const open = stack.at(-1);
  if (open) {
    return { error: `Can't find end of ${open.type} entity at byte offset ${open.byteOffset}` };
  }
  return { text: result };
}

const HTML_TAGS = new Set([
  "a",
  "b",
  "strong",
  "i",
  "em",
  "u",
  "ins",
  "s",
  "strike",
  "del",
  "span",
  "tg-spoiler",
  "tg-emoji",
  "code",
  "pre",
  "blockquote",
]);

const HTML_ENTITIES: Readonly<Record<string, string>> = { lt: "<", gt: ">", amp: "&", quot: '"' };

/** Decodes an HTML character reference at `chars[i]` ("&"), or returns undefined. */
function decodeEntity(chars: string[], i: number): { char: string; next: number } | undefined {
  const end = chars.indexOf(";", i + 1);
  if (end === -1 || end - i > 12) return undefined;
  const name = chars.slice(i + 1, end).join("");
  let char: string | undefined = HTML_ENTITIES[name];
  const numeric = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(name);
  if (numeric) {
    const point = numeric[1] !== undefined ? parseInt(numeric[1], 16) : Number(numeric[2]);
    char = point > 0 && point <= 0x10ffff ? String.fromCodePoint(point) : undefined;
  }
  return char === undefined ? undefined : { char, next: end + 1 };
}

function parseHtml(text: string): FormattedText {
  const { chars, offsets } = scan(text);
  const size = chars.length;
  const stack: string[] = [];
  let result = "";
  for (let i = 0; i < size; i++) {
    const c = chars[i];
    if (c === "&") {
      const entity = decodeEntity(chars, i);
      if (entity) {
        result += entity.char;
        i = entity.next - 1;
      } else {
        result += c;
      }
      continue;
    }
    if (c !== "<") {
      result += c;
      continue;
    }
    const begin = offsets[i];
    const isEnd = chars[i + 1] === "/";
    i += isEnd ? 2 : 1;
    let name = "";
    while (i < size && /[A-Za-z0-9-]/.test(chars[i])) name += chars[i++];
    name = name.toLowerCase();
    if (isEnd) {
      const open = stack.pop();
      if (open === undefined) return { error: `Unexpected end tag at byte offset ${begin}` };
      while (isSpace(chars[i])) i++;
      if (chars[i] !== ">") return { error: `Unclosed end tag at byte offset ${begin}` };
      if (name !== open) {
        return {
          error:
            `Unmatched end tag at byte offset ${begin}, expected "</${open}>", found "</${name}>"`,
        };
      }
      continue;
    }
    if (!HTML_TAGS.has(name)) {
      return { error: `Unsupported start tag "${name}" at byte offset ${begin}` };
    }
    const attributes = new Map<string, string>();
    while (i < size && chars[i] !== ">") {
      if (isSpace(chars[i])) {
        i++;
        continue;
      }
      let attribute = "";
      while (i < size && /[A-Za-z0-9_-]/.test(chars[i])) attribute += chars[i++];
      if (attribute === "") {
        return { error: `Empty attribute name in the tag "${name}" at byte offset ${begin}` };
      }
      let value = "";
      if (chars[i] === "=") {
        i++;
        const quote = chars[i] === '"' || chars[i] === "'" ? chars[i++] : undefined;
        while (i < size && (quote ? chars[i] !== quote : !isSpace(chars[i]) && chars[i] !== ">")) {
          value += chars[i++];
        }
        if (quote) {
          if (i >= size) break;
          i++;
        }
      }
      attributes.set(attribute.toLowerCase(), value);
    }
    if (i >= size) return { error: `Unclosed start tag at byte offset ${begin}` };
    if (name === "span" && attributes.get("class") !== "tg-spoiler") {
      return { error: `Tag "span" must have class "tg-spoiler" at byte offset ${begin}` };
    }
    stack.push(name);
  }
  const open = stack.at(-1);
  if (open !== undefined) {
    return { error: `Can't find end tag corresponding to start tag "${open}"` };
  }
  return { text: result };
}

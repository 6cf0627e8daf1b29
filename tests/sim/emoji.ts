/**
 * The emoji a bot may set with `setMessageReaction`, in Bot API 10.1 order.
 *
 * Written as code points so that the exact sequences are visible: the plain forms carry no U+FE0F
 * (❤ is U+2764 alone, and so are ✍, 🕊 and ☃), and ❤‍🔥, 👨‍💻, 🤷‍♂ and 🤷‍♀ are ZWJ sequences.
 *
 * @module
 */

const CODE_POINTS: readonly (readonly number[])[] = [
  [0x2764], // ❤
  [0x1f44d], // 👍
  [0x1f44e], // 👎
  [0x1f525], // 🔥
  [0x1f970], // 🥰
  [0x1f44f], // 👏
  [0x1f601], // 😁
  [0x1f914], // 🤔
  [0x1f92f], // 🤯
  [0x1f631], // 😱
  [0x1f92c], // 🤬
  [0x1f622], // 😢
  [0x1f389], // 🎉
  [0x1f929], // 🤩
  [0x1f92e], // 🤮
  [0x1f4a9], // 💩
  [0x1f64f], // 🙏
  [0x1f44c], // 👌
  [0x1f54a], // 🕊
  [0x1f921], // 🤡
  [0x1f971], // 🥱
  [0x1f974], // 🥴
  [0x1f60d], // 😍
  [0x1f433], // 🐳
  [0x2764, 0x200d, 0x1f525], // ❤‍🔥
  [0x1f31a], // 🌚
  [0x1f32d], // 🌭
  [0x1f4af], // 💯
  [0x1f923], // 🤣
  [0x26a1], // ⚡
  [0x1f34c], // 🍌
  [0x1f3c6], // 🏆
  [0x1f494], // 💔
  [0x1f928], // 🤨
  [0x1f610], // 😐
  [0x1f353], // 🍓
  [0x1f37e], // 🍾
  [0x1f48b], // 💋
  [0x1f595], // 🖕
  [0x1f608], // 😈
  [0x1f634], // 😴
  [0x1f62d], // 😭
  [0x1f913], // 🤓
  [0x1f47b], // 👻
  [0x1f468, 0x200d, 0x1f4bb], // 👨‍💻
  [0x1f440], // 👀
  [0x1f383], // 🎃
  [0x1f648], // 🙈
  [0x1f607], // 😇
  [0x1f628], // 😨
  [0x1f91d], // 🤝
  [0x270d], // ✍
  [0x1f917], // 🤗
  [0x1fae1], // 🫡
  [0x1f385], // 🎅
  [0x1f384], // 🎄
  [0x2603], // ☃
  [0x1f485], // 💅
  [0x1f92a], // 🤪
  [0x1f5ff], // 🗿
  [0x1f192], // 🆒
  [0x1f498], // 💘
  [0x1f649], // 🙉
  [0x1f984], // 🦄
  [0x1f618], // 😘
  [0x1f48a], // 💊
  [0x1f64a], // 🙊
  [0x1f60e], // 😎
  [0x1f47e], // 👾
  [0x1f937, 0x200d, 0x2642], // 🤷‍♂
  [0x1f937], // 🤷
  [0x1f937, 0x200d, 0x2640], // 🤷‍♀
  [0x1f621], // 😡
];

/** Telegram's 73 allowed reaction emoji, plain forms without U+FE0F, in Bot API 10.1 order. */
export const ALLOWED_REACTIONS: ReadonlySet<string> = new Set(
  CODE_POINTS.map((points) => String.fromCodePoint(...points)),
);

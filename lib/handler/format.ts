/**
 * The brain's Markdown, as Telegram HTML.
 *
 * Brains such as Claude answer in GitHub-flavoured Markdown. Telegram's own `Markdown` modes either
 * reject most natural text (MarkdownV2 wants `.` and `-` escaped) or silently eat underscores in
 * identifiers (legacy Markdown turns `my_var and other_var` into italics), which is worse than no
 * formatting for a coding assistant. So the few constructs that matter on a phone (code blocks,
 * inline code, bold, headings, links) become HTML tags, everything else is escaped and shown as
 * written. What this converter doesn't recognise stays literal text: it can't lose characters.
 *
 * @module
 */

/** Converts the Markdown constructs Telegram can show into its HTML; escapes everything else. */
export function markdownToHtml(markdown: string): string {
  const blocks: string[] = [];
  const hold = (html: string) => `\uE000${blocks.push(html) - 1}\uE000`;
  let text = markdown.replace(
    /```([\w+-]*)\n([\s\S]*?)\n?```/g,
    (_, lang: string, code: string) =>
      hold(
        lang === ""
          ? `<pre>${escapeHtml(code)}</pre>`
          : `<pre><code class="language-${lang}">${escapeHtml(code)}</code></pre>`,
      ),
  );
  text = text.replace(
    /`([^`\n]+)`/g,
    (_, code: string) => hold(`<code>${escapeHtml(code)}</code>`),
  );
  // A link's URL is set aside, so that no marker inside it becomes a tag; its label is formatted.
  text = text.replace(
    /\[([^\]\n]+)\]\((https?:\/\/[^\s)"<>]+)\)/g,
    (_, label: string, url: string) => `[${label}](${hold(escapeHtml(url))})`,
  );
  text = escapeHtml(text)
    .replace(/^#{1,6} +(.+)$/gm, "<b>$1</b>")
    .replace(/\*\*([^*\n]+)\*\*/g, "<b>$1</b>")
    .replace(/~~([^~\n]+)~~/g, "<s>$1</s>")
    .replace(
      /\[([^\]\n]+)\]\((\uE000\d+\uE000)\)/g,
      (_, label: string, url: string) => `<a href="${url}">${label}</a>`,
    );
  return text.replace(/\uE000(\d+)\uE000/g, (_, i: string) => blocks[Number(i)]);
}

/** Escapes the three characters Telegram's HTML mode reserves. */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

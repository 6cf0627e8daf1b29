/**
 * Unit tests for `lib/handler/format.ts`: `markdownToHtml()` and `escapeHtml()`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { escapeHtml, markdownToHtml } from "../lib/handler/format.ts";

/** What Telegram shows of an HTML text: tags dropped, entities decoded. */
function visibleText(html: string): string {
  return html.replace(/<[^>]*>/g, "").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
}

Deno.test("escapeHtml() escapes &, < and > and nothing else", () => {
  assert.equal(escapeHtml(`a & b < c > d "e" 'f'`), `a &amp; b &lt; c &gt; d "e" 'f'`);
  assert.equal(escapeHtml("&lt;"), "&amp;lt;");
});

Deno.test("markdownToHtml() escapes plain text", () => {
  assert.equal(markdownToHtml("if a < b && c > d"), "if a &lt; b &amp;&amp; c &gt; d");
  assert.equal(markdownToHtml("<script>"), "&lt;script&gt;");
});

Deno.test("markdownToHtml() turns fenced code into a pre block", async (t) => {
  await t.step("without a language", () => {
    assert.equal(markdownToHtml("```\nif (a < b) **x**\n```"), "<pre>if (a &lt; b) **x**</pre>");
  });

  await t.step("with a language", () => {
    assert.equal(
      markdownToHtml("Look:\n```ts\nconst a = b && c;\n```\nDone"),
      'Look:\n<pre><code class="language-ts">const a = b &amp;&amp; c;</code></pre>\nDone',
    );
  });
});

Deno.test("markdownToHtml() escapes inline code and doesn't format inside it", () => {
  assert.equal(
    markdownToHtml("run `a<b> **not bold** my_var` now"),
    "run <code>a&lt;b&gt; **not bold** my_var</code> now",
  );
});

Deno.test("markdownToHtml() formats bold, headings, strikethrough and links", async (t) => {
  await t.step("bold", () => {
    assert.equal(markdownToHtml("a **b & c** d"), "a <b>b &amp; c</b> d");
  });

  await t.step("headings of every level, as bold lines", () => {
    assert.equal(
      markdownToHtml("# One\ntext\n### Three\n###### Six"),
      "<b>One</b>\ntext\n<b>Three</b>\n<b>Six</b>",
    );
  });

  await t.step("a hash without a space is no heading", () => {
    assert.equal(markdownToHtml("#hashtag"), "#hashtag");
  });

  await t.step("strikethrough", () => {
    assert.equal(markdownToHtml("~~gone~~"), "<s>gone</s>");
  });

  await t.step("links, with the URL escaped in the attribute", () => {
    assert.equal(
      markdownToHtml("see [the docs](https://example.com/a?b=1&c=2)"),
      'see <a href="https://example.com/a?b=1&amp;c=2">the docs</a>',
    );
  });

  await t.step("a link that is not http(s) stays literal", () => {
    assert.equal(markdownToHtml("[x](javascript:alert(1))"), "[x](javascript:alert(1))");
  });
});

Deno.test("markdownToHtml() keeps underscores in identifiers as written", () => {
  const text = "set my_var_name and other_var, __init__ and _private_";
  assert.equal(markdownToHtml(text), text);
});

Deno.test("markdownToHtml() leaves unbalanced markers literal", () => {
  for (
    const text of [
      "**open bold",
      "~~open strike",
      "a `b",
      "```\nnever closed",
      "[label](",
      "* item",
    ]
  ) {
    assert.equal(markdownToHtml(text), escapeHtml(text), text);
  }
});

Deno.test("markdownToHtml() never loses text, only the markers", () => {
  const cases: [markdown: string, shown: string][] = [
    ["# Title\nSome **bold** & ~~old~~ text", "Title\nSome bold & old text"],
    [
      "Use `x < y` here:\n```py\nprint(a & b)\n```\nthen <done>",
      "Use x < y here:\nprint(a & b)\nthen <done>",
    ],
    ["[link **text**](https://e.com) and my_var_name > 2", "link text and my_var_name > 2"],
    ["**a** **b** ~~c~~ `d` e_f_g 1 < 2 > 0 & 3", "a b c d e_f_g 1 < 2 > 0 & 3"],
  ];
  for (const [markdown, shown] of cases) {
    assert.equal(visibleText(markdownToHtml(markdown)), shown, markdown);
  }
});

Deno.test({
  name: "markdownToHtml() keeps a link's URL verbatim",
  fn() {
    assert.equal(
      markdownToHtml("[x](https://example.com/~~a~~)"),
      '<a href="https://example.com/~~a~~">x</a>',
    );
    assert.equal(
      markdownToHtml("[x](https://example.com/**a**)"),
      '<a href="https://example.com/**a**">x</a>',
    );
  },
});

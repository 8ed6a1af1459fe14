// hasten.context.cursorLine 'middle' with an anchor (issue 14): the FIM prompt's middle holds the text from
// an anchor line to the cursor, and the anchor moves to the cursor's line only when that block grows past
// ANCHOR_CHARS or the cursor leaves it (a jump, an edit above it or in the suffix, a new prefix window). While
// it holds, typing on across lines feeds only the new tokens; the prompt's text is always the document's.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BEFORE_ANCHOR, TYPED_FILE, typeThrough } from '../../bench/typing';
import { stringSource, windowsAt } from '../../src/completion/context';
import { ANCHOR_CHARS, buildPrompt, middleStart, type Anchor, type Prompt } from '../../src/engine/prompt';
import { TextTokenizer } from '../../src/engine/tokenizer';

const ROOT = path.resolve(__dirname, '..', '..');
const qwen = TextTokenizer.load(path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-qwen2_5', 'models'), [151643]);
const budget = { tokens: 2000, suffixShare: 0.25, extraShare: 0.25 };
const WINDOW = { prefixChars: 2000, suffixChars: 500, multiline: 'auto' as const, maxLines: 8 };

const FILE = Array.from({ length: 200 }, (_, i) => `    total += values[${i}] * weight(${i})  # line ${i}\n`).join('');
const AT = FILE.indexOf('\n', 2400) + 1;
const TYPED = '    result = compute(total, values)\n    if result > limit:\n        return limit\n    return result + offset\n';

/** A FIM prompt's text in its three parts (the healed text back at the middle's end). */
function parts(p: Prompt): { before: string; suffix: string; middle: string } {
  const t = p.ids.map((id) => qwen.tokenText(id)).join('') + p.heal;
  const m = /^<\|fim_prefix\|>([^]*)<\|fim_suffix\|>([^]*)<\|fim_middle\|>([^]*)$/.exec(t);
  assert.ok(m, `not a FIM prompt: ${t.slice(0, 80)}`);
  return { before: m[1]!, suffix: m[2]!, middle: m[3]! };
}

/** Types `typed` at `at` in `file` key by key; each key's windows, prompt and parts, on the anchor the last prompt left. */
function typeKeys(file: string, at: number, typed: string, last?: Anchor) {
  const out = [];
  for (let k = 0; k <= typed.length; k++) {
    const doc = file.slice(0, at) + typed.slice(0, k) + file.slice(at);
    const w = windowsAt(stringSource(doc), at + k, WINDOW);
    const p = buildPrompt(qwen, w.prefix, w.suffix, budget, true, undefined, 'middle', last);
    last = p.anchor;
    out.push({ w, p, ...parts(p) });
  }
  return out;
}

test('typing across lines: the prompt is the document\'s text, split at the anchor, which stays put; each key feeds only its new tokens', () => {
  const keys = typeKeys(FILE, AT, TYPED);
  let prev: number[] = [];
  for (const [k, { w, p, before, suffix, middle }] of keys.entries()) {
    // Exactly the document's text around the cursor: before + middle is the prefix window, then the suffix.
    assert.equal(before + middle, w.prefix, `key ${k}`);
    assert.equal(suffix, w.suffix, `key ${k}`);
    // The anchor is where the typing began (TYPED is 112 characters, within ANCHOR_CHARS): the lines before it never change.
    assert.equal(before, FILE.slice(AT - w.prefix.length + k, AT), `key ${k}: the text before the suffix moved`);
    assert.deepEqual(p.anchor, { lines: before, suffix: w.suffix });
    if (k > 0) {
      // Everything up to <|fim_middle|> is the last prompt's, and only the middle's last few tokens are new.
      const mid = p.ids.indexOf(qwen.fim!.middleId);
      let same = 0;
      while (same < prev.length && same < p.ids.length && prev[same] === p.ids[same]) same++;
      assert.ok(same > mid, `key ${k}: shares ${same} tokens, <|fim_middle|> at ${mid}`);
      assert.ok(p.ids.length - same <= 3, `key ${k}: ${p.ids.length - same} new tokens`);
    }
    prev = p.ids;
  }
  assert.ok(keys.at(-1)!.middle.split('\n').length >= 5, 'the middle holds all the lines typed');
});

test('the anchor moves to the cursor line when the block grows past ANCHOR_CHARS, and holds again from there', () => {
  // 780 characters typed from just past a prefix window step (3,000), so the window's start stays put (until 4,000).
  const long = '    x = compute(total, values)  # a line of sixty characters\n'.repeat(13);
  const keys = typeKeys(FILE, FILE.indexOf('\n', 3050) + 1, long);
  assert.equal(new Set(keys.map((k) => k.w.prefix.length - (keys.indexOf(k)))).size, 1, 'the prefix window stayed put');
  const moves = keys.flatMap((key, k) => (k > 0 && key.before !== keys[k - 1]!.before ? [k] : []));
  assert.equal(moves.length, 1, `moves at ${moves.join(',')}`);
  for (const [k, { w, before, middle }] of keys.entries()) {
    assert.equal(before + middle, w.prefix);
    assert.ok(middle.length <= ANCHOR_CHARS, `key ${k}: a middle of ${middle.length} chars`);
    assert.ok(before === '' || before.endsWith('\n'), 'the middle starts at a line');
  }
  for (const k of moves) {
    // A move puts the middle at the cursor's line, not further back.
    assert.equal(keys[k]!.middle, keys[k]!.w.cursor.linePrefix, `move at ${k}`);
    assert.ok(keys[k - 1]!.middle.length + 1 > ANCHOR_CHARS, `move at ${k} after ${keys[k - 1]!.middle.length} chars`);
  }
});

test('the anchor moves to the cursor line when the cursor leaves the block or text before it or the suffix changes', () => {
  // Typed two lines and part of a third: the anchor is where the typing began.
  const typed = TYPED.slice(0, 80);
  const doc = FILE.slice(0, AT) + typed + FILE.slice(AT);
  const keys = typeKeys(FILE, AT, typed);
  const anchor = keys.at(-1)!.p.anchor!;
  assert.equal(keys.at(-1)!.middle, typed, 'the anchor held while typing');
  const at = (d: string, offset: number) => {
    const w = windowsAt(stringSource(d), offset, WINDOW);
    const p = buildPrompt(qwen, w.prefix, w.suffix, budget, true, undefined, 'middle', anchor);
    return { w, ...parts(p) };
  };
  const onCursorLine = (r: ReturnType<typeof at>, why: string) => {
    assert.equal(r.before + r.middle, r.w.prefix, why);
    assert.equal(r.middle, r.w.cursor.linePrefix, `${why}: the middle is the cursor line's`);
  };
  // Staying put (the same request again) keeps it; a cursor back within the block changes the suffix: it moves.
  assert.equal(at(doc, AT + typed.length).middle, typed);
  onCursorLine(at(doc, AT + 40), 'the cursor went back into the block');
  // A jump elsewhere in the file: further down, and up above the anchor.
  onCursorLine(at(doc, AT + typed.length + 300), 'a jump down');
  onCursorLine(at(doc, AT - 500), 'a jump up');
  // An edit above the anchor, the cursor where it was (shifted by the edit).
  const edited = doc.slice(0, AT - 100) + 'EDIT' + doc.slice(AT - 100);
  onCursorLine(at(edited, AT + typed.length + 4), 'an edit above the anchor');
  // An edit in the suffix (a character deleted after the cursor).
  const cut = doc.slice(0, AT + typed.length + 10) + doc.slice(AT + typed.length + 11);
  onCursorLine(at(cut, AT + typed.length), 'an edit after the cursor');
  // An edit inside the block, below the anchor, keeps it: only the middle's text changes.
  const inBlock = doc.slice(0, AT + 10) + 'Z' + doc.slice(AT + 10);
  const r = at(inBlock, AT + typed.length + 1);
  assert.equal(r.before + r.middle, r.w.prefix);
  assert.equal(r.middle, typed.slice(0, 10) + 'Z' + typed.slice(10));
});

test('middleStart: the last anchor while it holds, else the cursor line', () => {
  const lines = 'a = 1\nb = 2\n';
  const last: Anchor = { lines, suffix: 'S' };
  assert.equal(middleStart(`${lines}c = 3\nd`, 'S', last), lines.length);
  assert.equal(middleStart(`${lines}c = 3\nd`, 'S', undefined), `${lines}c = 3\n`.length, 'no last anchor');
  assert.equal(middleStart(`${lines}c = 3\nd`, 'T', last), `${lines}c = 3\n`.length, 'another suffix');
  assert.equal(middleStart(`a = 9\nb = 2\nc = 3\nd`, 'S', last), `${lines}c = 3\n`.length, 'text before the anchor changed');
  assert.equal(middleStart(`${lines}${'x'.repeat(20)}\nd`, 'S', last, 10), `${lines}${'x'.repeat(20)}\n`.length, 'a block past the bound');
  assert.equal(middleStart(`${lines}c`, 'S', last, 0), lines.length, 'bound 0 is the cursor line');
  assert.equal(middleStart(`${lines}c = 3\nd`, 'S', last, 0), `${lines}c = 3\n`.length, 'bound 0 is the cursor line');
});

test('typing through a file on the bundled model: far fewer tokens fed per key than the cursor-line middle (engine trace)', async () => {
  const text = fs.readFileSync(TYPED_FILE, 'utf8');
  const dir = path.join(ROOT, 'models', 'hasten-target');
  const [line, anchored] = await typeThrough('bundled', dir, text, { threads: 1, words: 60, maxNewTokens: 2 }, [{ cursorLine: 'middle', ...BEFORE_ANCHOR }, { cursorLine: 'middle' }]);
  const l = line!.keys;
  const a = anchored!.keys;
  const say = `tokens fed per key, cursor line: p50 ${l.fedP50} p95 ${l.fedP95} mean ${l.meanFed!.toFixed(1)}; anchored: p50 ${a.fedP50} p95 ${a.fedP95} mean ${a.meanFed!.toFixed(1)}`;
  assert.equal(a.samples, 60, say);
  // The cursor-line middle feeds the suffix again at each new line (the p95 key); the anchored one feeds the suffix only when the anchor moves.
  assert.ok(l.fedP95! >= 100, say);
  assert.ok(a.fedP95! <= 20, say);
  assert.ok(a.meanFed! * 3 < l.meanFed!, say);
});

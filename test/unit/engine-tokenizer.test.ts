// Tokenizer wrapper: FIM template detection per model family, no control-token injection from
// document text, and streaming that never splits a multi-byte character.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StreamDecoder, TextTokenizer } from '../../src/engine/tokenizer';
import { buildPrompt } from '../../src/engine/prompt';

const target = path.resolve(__dirname, '..', '..', 'models', 'hasten-target');
const tk = TextTokenizer.load(target, [0]);

/** A folder whose tokenizer is ours with extra added tokens (to imitate another family). */
function withAdded(tokens: string[]): TextTokenizer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-tok-'));
  const j = JSON.parse(fs.readFileSync(path.join(target, 'tokenizer.json'), 'utf8'));
  const ours = (c: string) => c.startsWith('<|fim') || c === '<|mask|>';
  j.added_tokens = j.added_tokens.filter((t: { content: string }) => !ours(t.content));
  for (const c of Object.keys(j.model.vocab)) if (ours(c)) delete j.model.vocab[c];
  let id = 8192;
  for (const content of tokens) {
    j.added_tokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    j.model.vocab[content] = id++;
  }
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(j));
  try {
    return TextTokenizer.load(dir, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('FIM templates', () => {
  test('detected from special tokens, per family', () => {
    assert.equal(tk.fim?.family, 'hasten');
    assert.deepEqual([tk.fim?.prefixId, tk.fim?.suffixId, tk.fim?.middleId], [1, 3, 2]);
    assert.equal(withAdded(['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|im_start|>', '<|file_sep|>']).fim?.family, 'qwen2.5-coder');
    assert.equal(withAdded(['<fim_prefix>', '<fim_suffix>', '<fim_middle>']).fim?.family, 'starcoder');
    assert.equal(withAdded(['▁<PRE>', '▁<SUF>', '▁<MID>', '▁<EOT>']).fim?.family, 'codellama');
    assert.equal(withAdded(['<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>']).fim?.family, 'deepseek-coder');
    assert.equal(withAdded([]).fim, null);
  });

  test('family stop tokens join the eos ids', () => {
    const q = withAdded(['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|file_sep|>']);
    assert.ok(q.stopIds.has(q.idOf('<|file_sep|>')!));
    assert.ok(tk.stopIds.has(0));
  });

  test('a prompt is prefix-suffix-middle within the budget, keeping the text nearest the cursor', () => {
    const { ids, heal } = buildPrompt(tk, 'a = 1\n'.repeat(500) + 'b = ', '\nc = 3\n'.repeat(500), { tokens: 100, suffixShare: 0.25 });
    assert.equal(heal, '');
    assert.ok(ids.length <= 100);
    assert.equal(ids[0], 1);
    assert.equal(ids[ids.length - 1], 2);
    const suf = ids.indexOf(3);
    assert.ok(tk.decode(ids.slice(1, suf)).endsWith('b = '));
    assert.ok(tk.decode(ids.slice(suf + 1, -1)).startsWith('\nc = 3'));
  });
});

test('token healing takes the prefix\'s last token off the prompt and returns its text', () => {
  const prefix = 'def f(x):\n    return x\n\ndef g(y):\n';
  const plain = buildPrompt(tk, prefix, 'pass\n', { tokens: 100, suffixShare: 0.25 });
  const healed = buildPrompt(tk, prefix, 'pass\n', { tokens: 100, suffixShare: 0.25 }, true);
  assert.equal(healed.ids.length, plain.ids.length - 1);
  const suf = plain.ids.indexOf(3);
  const last = plain.ids[suf - 1]!;
  assert.equal(healed.heal, tk.tokenText(last));
  assert.deepEqual(healed.ids, [...plain.ids.slice(0, suf - 1), ...plain.ids.slice(suf)]);
  // Every token the first step may choose starts with the healed text; the taken-off token is one of them; no special token is.
  const mask = tk.healMask(healed.heal, 8192);
  assert.equal(mask[last], 1);
  for (let i = 0; i < 8192; i++) if (mask[i]) assert.ok(tk.tokenText(i).startsWith(healed.heal) && !tk.stopIds.has(i), String(i));
  assert.ok(mask.reduce((a, b) => a + b, 0) < 8192);
  // A prefix of one token is left alone.
  assert.equal(buildPrompt(tk, 'x', '', { tokens: 100, suffixShare: 0.25 }, true).heal, '');
});

test('special-token text inside a document is encoded as plain text', () => {
  const text = 'x = "<|endoftext|>" # <|fim_middle|>';
  const ids = tk.encode(text);
  assert.ok(!ids.includes(0) && !ids.includes(2), String(ids));
  assert.equal(tk.decode(ids), text);
});

test('streaming decode holds back incomplete multi-byte characters', () => {
  const text = 'é日本🎉 ok';
  const ids = tk.encode(text);
  const s = new StreamDecoder(tk);
  let out = '';
  for (const id of ids) {
    const d = s.push([id]);
    assert.ok(!d.includes('\uFFFD'), `partial character leaked: ${JSON.stringify(d)}`);
    out += d;
  }
  assert.equal(out, text);
});

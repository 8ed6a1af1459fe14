import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkAround, ContextRing, jaccard, lineComment } from '../../src/completion/ring';

const code = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `line ${i} of ${tag}`).join('\n');

test('jaccard similarity of line sets', () => {
  assert.equal(jaccard(new Set(['a', 'b']), new Set(['a', 'b'])), 1);
  assert.equal(jaccard(new Set(['a', 'b']), new Set(['c'])), 0);
  assert.equal(jaccard(new Set(['a', 'b', 'c']), new Set(['a', 'b', 'd'])), 0.5);
});

test('a near-duplicate chunk evicts the older one; distinct chunks accumulate', () => {
  const ring = new ContextRing({ capacity: 8, chunkLines: 32, similarity: 0.7 });
  ring.add('a.ts', code(10, 'a'));
  ring.add('b.ts', code(10, 'b'));
  assert.equal(ring.size, 2);
  ring.add('a.ts', `${code(10, 'a')}\nline 10 of a`); // 10 of 11 lines shared: J = 0.91
  assert.equal(ring.size, 2);
  const picked = ring.pick('', 10_000);
  assert.equal(picked[0]!.text.endsWith('line 10 of a'), true, 'the newer copy replaced the old one and is first');
});

test('capacity drops the oldest; tiny chunks are not kept', () => {
  const ring = new ContextRing({ capacity: 2, chunkLines: 32, similarity: 0.7 });
  for (const t of ['x', 'y', 'z']) ring.add(`${t}.ts`, code(5, t));
  assert.deepEqual(ring.pick('', 10_000).map((c) => c.source), ['z.ts', 'y.ts']);
  assert.equal(ring.add('t.ts', 'one\ntwo'), false);
  ring.resize({ capacity: 1 });
  assert.deepEqual(ring.pick('', 10_000).map((c) => c.source), ['z.ts']);
});

test('pick skips chunks already around the cursor and respects the character budget', () => {
  const ring = new ContextRing({ capacity: 8, chunkLines: 32, similarity: 0.7 });
  ring.add('a.ts', code(5, 'a'));
  ring.add('b.ts', code(5, 'b'));
  assert.deepEqual(ring.pick(code(20, 'a'), 10_000).map((c) => c.source), ['b.ts']);
  assert.deepEqual(ring.pick('', code(5, 'b').length).map((c) => c.source), ['b.ts']);
});

test('chunkAround takes the lines centred on the cursor, clamped to the file', () => {
  const text = code(100, 'f');
  assert.equal(chunkAround(text, 50, 10).split('\n')[0], 'line 45 of f');
  assert.equal(chunkAround(text, 0, 10).split('\n')[0], 'line 0 of f');
  assert.equal(chunkAround(text, 99, 10).split('\n').at(-1), 'line 99 of f');
});

test('the ring picks newest first; the line comment the engine comments chunks with follows the language', () => {
  const ring = new ContextRing({ capacity: 8, chunkLines: 32, similarity: 0.7 });
  ring.add('old.py', code(3, 'old'));
  ring.add('new.py', code(3, 'new'));
  assert.deepEqual(ring.pick('', 10_000).map((c) => c.source), ['new.py', 'old.py']);
  assert.equal(lineComment('python'), '#');
  assert.equal(lineComment('lua'), '--');
  assert.equal(lineComment('typescript'), '//');
});

test('typing new lines in a file: the chunks the editor adds around each keep out of the pick, so the extra context (the prompt\'s start) stays the same', () => {
  // As WorkspaceFeed does: a chunk around each edit that spans a line break, 32 lines centred on it; the
  // provider picks with the windows' text (2,000 characters before the cursor, 500 after).
  const ring = new ContextRing({ capacity: 16, chunkLines: 32, similarity: 0.7 });
  ring.add('other.ts', code(40, 'other'));
  const file = Array.from({ length: 400 }, (_, i) => `    total += values[${i}] * weight(${i})`).join('\n');
  const lines = file.split('\n');
  const picks = new Set<string>();
  let around = '';
  for (let at = 100; at < 140; at++) {
    const doc = [...lines.slice(0, at), `    typed = line(${at})`, ...lines.slice(at)].join('\n');
    ring.add('main.ts', chunkAround(doc, at, 32));
    const offset = doc.split('\n').slice(0, at + 1).join('\n').length;
    around = doc.slice(Math.max(0, offset - 2000), offset + 500);
    picks.add(ring.pick(around, 4096).map((c) => c.source).join(','));
  }
  assert.deepEqual([...picks], ['other.ts']);
  // A chunk of the same file far from the cursor is still context.
  ring.add('main.ts', chunkAround(file, 350, 32));
  assert.deepEqual(ring.pick(around, 4096).map((c) => c.source), ['main.ts', 'other.ts']);
});

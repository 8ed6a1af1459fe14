// Turns the corpus into token streams for training, through the same @huggingface/tokenizers
// library the extension uses. About half of the samples are fill-in-the-middle (prefix-suffix-middle)
// with the split made on characters, so a cursor in the middle of a word is seen in training.
// Chunk lengths are mixed (seeded): half are ~780 characters (one 256-token window), half 1,600-3,300 characters
// (up to ~1,000 tokens) so that samples, FIM prefixes included, fill the 1,024-token context.
// Output: models/.work/data/{train,heldout}.bin, {train,heldout}-plain.bin (uint16 token ids) and stats.json.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = path.resolve(here, '..', '.work');
const CHUNK_CHARS = 780; // about 240 tokens at 3.3 bytes per token: fits one 256-token training window
const LONG_RATE = 0.5; // share of chunks drawn long
const LONG_MIN = 1600; // long chunks: uniform in [LONG_MIN, LONG_MAX) characters
const LONG_MAX = 3300; // about 1,000 tokens: fits the 1,024-token window with the FIM sentinels
const FIM_RATE = 0.5;

/** Small seeded PRNG (mulberry32), so the data is identical on every rebuild. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function loadTokenizer(dir) {
  return new Tokenizer(
    JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
    JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
  );
}

/** A seeded chunk-length source: half CHUNK_CHARS, half uniform in [LONG_MIN, LONG_MAX). */
export function mixedSizes(rand) {
  return () => (rand() < LONG_RATE ? LONG_MIN + Math.floor(rand() * (LONG_MAX - LONG_MIN)) : CHUNK_CHARS);
}

/** Splits a document into chunks on line boundaries; `size` is a length or a function drawing one per chunk. */
export function chunks(text, sizeOf = CHUNK_CHARS) {
  const out = [];
  let start = 0;
  while (start < text.length) {
    const size = typeof sizeOf === 'function' ? sizeOf() : sizeOf;
    let end = Math.min(text.length, start + size);
    if (end < text.length) {
      const nl = text.lastIndexOf('\n', end);
      if (nl > start + size / 2) end = nl + 1;
    }
    out.push(text.slice(start, end));
    start = end;
  }
  return out;
}

/** Picks a middle span: half end at a line end (whole-line completions), half anywhere. */
export function fimSplit(text, rand) {
  const start = Math.floor(rand() * text.length);
  const maxLen = Math.min(text.length - start, 400);
  let end = start + 1 + Math.floor(rand() * maxLen);
  if (rand() < 0.5) {
    const nl = text.indexOf('\n', end - 1);
    if (nl !== -1 && nl - start < 600) end = nl + 1;
  }
  end = Math.min(end, text.length);
  return [text.slice(0, start), text.slice(start, end), text.slice(end)];
}

/** A growable uint16 buffer (the token streams run to tens of millions of ids). */
class U16 {
  constructor() { this.a = new Uint16Array(1 << 20); this.length = 0; }
  push(...xs) {
    if (this.length + xs.length > this.a.length) {
      const b = new Uint16Array(Math.max(this.a.length * 2, this.length + xs.length));
      b.set(this.a.subarray(0, this.length));
      this.a = b;
    }
    for (const x of xs) this.a[this.length++] = x;
  }
  append(ids) { this.push(...ids); }
  view() { return this.a.subarray(0, this.length); }
}

function encodeDocs(tk, docs, seed) {
  const id = (t) => tk.token_to_id(t);
  const [EOT, PRE, MID, SUF] = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>'].map(id);
  const enc = (s) => (s.length ? tk.encode(s, { add_special_tokens: false }).ids : []);
  const rand = rng(seed);
  const sizes = mixedSizes(rng(seed + 300));
  const ids = new U16();
  const plainIds = new U16(); // every chunk unformatted: for bits-per-byte evaluation and CMLM spans
  let fim = 0;
  let plain = 0;
  let long = 0;
  for (const doc of docs) {
    const parts = chunks(doc.text, sizes);
    long += parts.filter((c) => c.length > CHUNK_CHARS).length;
    parts.forEach((chunk, i) => {
      const plainChunk = enc(chunk);
      plainIds.push(...plainChunk);
      if (i === parts.length - 1) plainIds.push(EOT);
      if (rand() < FIM_RATE && chunk.length > 8) {
        const [prefix, middle, suffix] = fimSplit(chunk, rand);
        ids.push(PRE, ...enc(prefix), SUF, ...enc(suffix), MID, ...enc(middle), EOT);
        fim++;
      } else {
        ids.push(...plainChunk);
        if (i === parts.length - 1) ids.push(EOT);
        plain++;
      }
    });
  }
  return { ids: ids.view(), plainIds: plainIds.view(), fim, plain, long };
}

function readDocs(file) {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function main() {
  const t0 = Date.now();
  const tk = loadTokenizer(path.join(work, 'tokenizer'));
  const outDir = path.join(work, 'data');
  fs.mkdirSync(outDir, { recursive: true });
  const stats = {};
  for (const [split, seed] of [['train', 1], ['heldout', 2]]) {
    const docs = readDocs(path.join(work, 'corpus', `${split}.jsonl`));
    // Shuffle documents (seeded) so a training prefix of the stream spans every package.
    const rand = rng(seed + 100);
    for (let i = docs.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [docs[i], docs[j]] = [docs[j], docs[i]];
    }
    const { ids, plainIds, fim, plain, long } = encodeDocs(tk, docs, seed);
    fs.writeFileSync(path.join(outDir, `${split}.bin`), Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength));
    fs.writeFileSync(path.join(outDir, `${split}-plain.bin`), Buffer.from(plainIds.buffer, plainIds.byteOffset, plainIds.byteLength));
    const bytes = docs.reduce((s, d) => s + Buffer.byteLength(d.text), 0);
    stats[split] = { docs: docs.length, bytes, tokens: ids.length, plainTokens: plainIds.length, fimSamples: fim, plainSamples: plain, longChunks: long };
    console.log(`prep: ${split}: ${ids.length} tokens from ${docs.length} docs (${fim} FIM, ${plain} plain, ${long} long chunks)`);
  }
  stats.seconds = (Date.now() - t0) / 1000;
  fs.writeFileSync(path.join(outDir, 'stats.json'), JSON.stringify(stats, null, 1));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();

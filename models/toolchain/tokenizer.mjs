// Hasten's byte-level BPE tokenizer. By default this stage does NOT retrain: the shipped weights depend on the
// shipped vocabulary, so it copies models/hasten-target/tokenizer{,_config}.json into models/.work/tokenizer and
// checks that the sha256 matches. With `--retrain` it trains the BPE on the training split and writes it as a
// Hugging Face tokenizer.json + tokenizer_config.json (then every model must be trained from scratch). Pre-tokenisation uses the same JavaScript regex engine
// (`gu` flags) that @huggingface/tokenizers uses at run time, so training and use cannot disagree.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = path.resolve(here, '..', '.work');
const outDir = path.join(work, 'tokenizer');

export const VOCAB_SIZE = 8192;
/** Special tokens, in id order. `<|mask|>` is used by the CMLM. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|mask|>'];
// Identifiers (letters and underscore), short digit runs, punctuation runs, and whitespace that
// leaves one space to lead the next word (so indentation becomes its own tokens).
export const SPLIT_PATTERN = " ?[\\p{L}_]+| ?\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}_]+|\\s+(?!\\S)|\\s+";
const SAMPLE_BYTES = 12_000_000;

/** GPT-2's reversible map from bytes to printable unicode characters. */
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
  }
  const map = new Array(256);
  bs.forEach((b, i) => { map[b] = String.fromCodePoint(cs[i]); });
  return map;
}

async function countWords(file) {
  const re = new RegExp(SPLIT_PATTERN, 'gu');
  const counts = new Map();
  const enc = new TextEncoder();
  const byteChar = bytesToUnicode();
  let seen = 0;
  // Every k-th document, so the sample spans all packages rather than the first few.
  const lines = [];
  for await (const line of readline.createInterface({ input: fs.createReadStream(file) })) lines.push(line);
  const total = lines.reduce((s, l) => s + l.length, 0);
  const stride = Math.max(1, Math.round(total / SAMPLE_BYTES));
  for (let i = 0; i < lines.length && seen < SAMPLE_BYTES; i += stride) {
    const { text } = JSON.parse(lines[i]);
    seen += text.length;
    for (const m of text.matchAll(re)) {
      const w = Array.from(enc.encode(m[0]), (b) => byteChar[b]).join('');
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return { counts, seen };
}

/** Classic BPE training with incremental pair counts. Ties break on the lexically smallest pair. */
function trainBpe(counts, numMerges, alphabet) {
  const symId = new Map(alphabet.map((c, i) => [c, i]));
  const symbols = [...alphabet];
  const words = [];
  const freqs = [];
  for (const [w, c] of counts) {
    words.push(Array.from(w, (ch) => symId.get(ch)));
    freqs.push(c);
  }
  const key = (a, b) => a * 65536 + b;
  const pairCount = new Map();
  const pairWords = new Map();
  const addPair = (k, wi, c) => {
    pairCount.set(k, (pairCount.get(k) ?? 0) + c);
    let s = pairWords.get(k);
    if (!s) { s = new Set(); pairWords.set(k, s); }
    s.add(wi);
  };
  words.forEach((w, wi) => { for (let i = 0; i + 1 < w.length; i++) addPair(key(w[i], w[i + 1]), wi, freqs[wi]); });
  const merges = [];
  for (let m = 0; m < numMerges; m++) {
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && symbols[Math.floor(k / 65536)] + symbols[k % 65536] < symbols[Math.floor(best / 65536)] + symbols[best % 65536])) {
        best = k; bestCount = c;
      }
    }
    if (bestCount < 2) break;
    const a = Math.floor(best / 65536);
    const b = best % 65536;
    const merged = symbols.length;
    symbols.push(symbols[a] + symbols[b]);
    merges.push([symbols[a], symbols[b]]);
    for (const wi of pairWords.get(best) ?? []) {
      const w = words[wi];
      const c = freqs[wi];
      for (let i = 0; i + 1 < w.length; i++) pairCount.set(key(w[i], w[i + 1]), pairCount.get(key(w[i], w[i + 1])) - c);
      const next = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) { next.push(merged); i++; } else next.push(w[i]);
      }
      words[wi] = next;
      for (let i = 0; i + 1 < next.length; i++) addPair(key(next[i], next[i + 1]), wi, c);
    }
    pairCount.delete(best);
    pairWords.delete(best);
  }
  return { symbols, merges };
}

function tokenizerJson(symbols, merges) {
  // fromEntries defines own properties, so a token such as `__proto__` survives (plain assignment would not).
  const vocab = Object.fromEntries([...SPECIAL_TOKENS, ...symbols].map((t, i) => [t, i]));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

function tokenizerConfig() {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: null,
    eos_token: '<|endoftext|>',
    pad_token: '<|fim_pad|>',
    mask_token: '<|mask|>',
    unk_token: null,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 512,
    additional_special_tokens: SPECIAL_TOKENS.slice(1),
    added_tokens_decoder: Object.fromEntries(SPECIAL_TOKENS.map((content, id) => [String(id),
      { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }])),
  };
}

const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Copies the shipped tokenizer into models/.work/tokenizer and verifies it byte for byte. */
function useShipped() {
  const shipped = path.resolve(here, '..', 'hasten-target');
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    const src = path.join(shipped, f);
    const dst = path.join(outDir, f);
    if (!fs.existsSync(src)) { console.error(`tokenizer: ${src} is missing (use --retrain to train a new vocabulary)`); process.exit(1); }
    fs.copyFileSync(src, dst);
    if (sha256(src) !== sha256(dst)) { console.error(`tokenizer: ${dst} differs from ${src} after copying`); process.exit(1); }
  }
  console.log(`tokenizer: using the shipped vocabulary (models/hasten-target/tokenizer.json, sha256 ${sha256(path.join(outDir, 'tokenizer.json')).slice(0, 16)}…); --retrain trains a new one`);
}

async function main() {
  if (!process.argv.includes('--retrain')) { useShipped(); return; }
  const t0 = Date.now();
  const { counts, seen } = await countWords(path.join(work, 'corpus', 'train.jsonl'));
  const alphabet = [...new Set(bytesToUnicode())];
  const { symbols, merges } = trainBpe(counts, VOCAB_SIZE - SPECIAL_TOKENS.length - alphabet.length, alphabet);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(tokenizerJson(symbols, merges)));
  fs.writeFileSync(path.join(outDir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig(), null, 2) + '\n');
  console.log(`tokenizer: ${SPECIAL_TOKENS.length + symbols.length} tokens (${merges.length} merges) from ` +
    `${(seen / 1e6).toFixed(1)} MB, ${counts.size} distinct words, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

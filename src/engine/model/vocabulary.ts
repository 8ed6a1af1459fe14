// Whether two models can pair as target and draft: their token ids must mean the same text. That is a
// property of the vocabulary (token -> id, plus the added tokens), not of tokenizer.json's bytes: the
// same vocabulary is saved with different formatting, key order, normalizer or post-processor by
// different tools and versions, and a draft downloaded from another repo is still a valid draft.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { HastenError } from '../errors';

/** One folder's vocabulary: every token and added token with its id, and a digest of them. */
export interface Vocabulary {
  file: string;
  /** token -> id over the model's vocabulary and the added tokens. */
  ids: Map<string, number>;
  /** Added tokens (FIM, end of text ...): content -> id. */
  added: Map<string, number>;
  /** sha256 of the sorted (token, id) pairs, added tokens marked: equal digests, equal vocabularies. */
  digest: string;
}

interface TokenizerJson {
  model?: { vocab?: Record<string, number> | [string, number][] };
  added_tokens?: { id: number; content: string }[];
}

const cache = new Map<string, { key: string; vocab: Vocabulary }>();

/** Reads a folder's tokenizer.json into its vocabulary (cached by path, size and mtime). */
export function readVocabulary(dir: string): Vocabulary {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) throw new HastenError('model-missing', `${file} is missing.`, 'A model folder needs tokenizer.json next to config.json (Hugging Face layout).');
  const st = fs.statSync(file);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = cache.get(file);
  if (hit?.key === key) return hit.vocab;
  let json: TokenizerJson;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as TokenizerJson;
  } catch (err) {
    throw new HastenError('model-corrupt', `${file} is not valid JSON (${(err as Error).message}).`, 'Re-export or re-download the model folder.');
  }
  const ids = new Map<string, number>();
  const v = json.model?.vocab;
  // BPE and WordPiece store token -> id; Unigram (SentencePiece) stores [piece, score] with the index as id.
  if (Array.isArray(v)) v.forEach((entry, i) => ids.set(String(entry[0]), i));
  else if (v) for (const [t, id] of Object.entries(v)) ids.set(t, id);
  const added = new Map<string, number>();
  for (const t of json.added_tokens ?? []) {
    added.set(t.content, t.id);
    ids.set(t.content, t.id);
  }
  const hash = createHash('sha256');
  for (const [t, id] of [...ids].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    hash.update(`${added.has(t) ? '+' : ' '}${id}\t${t}\n`);
  }
  const vocab = { file, ids, added, digest: hash.digest('hex') };
  cache.set(file, { key, vocab });
  return vocab;
}

const show = (t: string) => JSON.stringify(t.length > 40 ? `${t.slice(0, 40)}…` : t);

/** The first difference between two vocabularies, in words; null when they are the same. */
export function vocabularyDifference(a: Vocabulary, b: Vocabulary): string | null {
  if (a.digest === b.digest) return null;
  for (const [t, id] of a.added) {
    const other = b.added.get(t) ?? b.ids.get(t);
    if (other === undefined) return `the added token ${show(t)} (id ${id}) is missing from ${b.file}`;
    if (other !== id) return `the added token ${show(t)} is id ${id} in ${a.file} but ${other} in ${b.file}`;
  }
  for (const [t, id] of b.added) if (!a.added.has(t) && a.ids.get(t) !== id) return `the added token ${show(t)} (id ${id}) of ${b.file} is not in ${a.file}`;
  if (a.ids.size !== b.ids.size) return `${a.file} has ${a.ids.size} tokens and ${b.file} has ${b.ids.size}`;
  for (const [t, id] of a.ids) {
    const other = b.ids.get(t);
    if (other === undefined) return `the token ${show(t)} (id ${id}) is missing from ${b.file}`;
    if (other !== id) return `the token ${show(t)} is id ${id} in ${a.file} but ${other} in ${b.file}`;
  }
  return `the same tokens are marked as added tokens differently in ${a.file} and ${b.file}`;
}

/** True when a draft in `draftDir` may pair with the target in `targetDir`: the same token ids mean the same text. */
export function sameVocabulary(targetDir: string, draftDir: string): boolean {
  return vocabularyDifference(readVocabulary(targetDir), readVocabulary(draftDir)) === null;
}

/** The candidate folders whose vocabulary is the target's, in the given order (for offering drafts); unreadable ones are left out. */
export function draftsFor(targetDir: string, candidates: readonly string[]): string[] {
  const target = readVocabulary(targetDir);
  return candidates.filter((dir) => {
    if (path.resolve(dir) === path.resolve(targetDir)) return false;
    try {
      return readVocabulary(dir).digest === target.digest;
    } catch {
      return false;
    }
  });
}

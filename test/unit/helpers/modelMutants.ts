// Mutated model folders for the fuzz test: a copy of the bundled hasten-draft-s with one thing
// broken, chosen by a seed. Each mutant says which files an error about it must name.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { below, pick, rng } from './random';

export const BASE_NAME = 'hasten-draft-s';
export const BASE = path.join(__dirname, '..', '..', '..', 'models', BASE_NAME);
const MANIFEST = path.join(BASE, '..', 'manifest.json');

export type Target = 'config' | 'tokenizer' | 'onnx' | 'manifest';

export interface Mutant {
  seed: number;
  target: Target;
  /** What was broken, for the report. */
  what: string;
  /** File names (base names) of which an error about this mutant must name one. */
  names: string[];
}

type Json = Record<string, unknown>;
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Json;
/** Replaces a file with new bytes (never writes through to the original). */
function put(file: string, data: string | Buffer): void {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, data);
}

function truncate(r: () => number, file: string): string {
  const b = fs.readFileSync(file);
  const n = below(r, b.length);
  put(file, b.subarray(0, n));
  return `truncated to ${n} of ${b.length} bytes`;
}

function flipBits(r: () => number, file: string): string {
  const b = Buffer.from(fs.readFileSync(file));
  const k = pick(r, [1, 2, 4, 16, 64]);
  for (let i = 0; i < k; i++) b[below(r, b.length)]! ^= 1 << below(r, 8);
  put(file, b);
  return `${k} bits flipped`;
}

const HOSTILE: unknown[] = [null, '8', true, [], {}, 1.5, 0, -1, 1e9, 2 ** 31, 2 ** 53, 1e308, -1e308, '', 'hasten-cmlm', [0, 'x', null]];
const CONFIG_KEYS = ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings', 'eos_token_id', 'model_type', 'hasten.build.contextLength', 'hasten.build.kvSlots', 'hasten'];
const GARBAGE = ['', '[]', 'null', '42', '"x"', '{', '\u0000\u0001\u0002', `{"a":${'['.repeat(50_000)}`, '{"vocab_size": 8192,}'];

function setPath(o: Json, key: string, v: unknown): void {
  const parts = key.split('.');
  let at = o;
  for (const p of parts.slice(0, -1)) {
    if (typeof at[p] !== 'object' || at[p] === null) at[p] = {};
    at = at[p] as Json;
  }
  if (v === undefined) delete at[parts.at(-1)!];
  else at[parts.at(-1)!] = v;
}

function mutateConfig(r: () => number, dir: string): string {
  const file = path.join(dir, 'config.json');
  const op = below(r, 10);
  if (op === 0) return truncate(r, file);
  if (op === 1) {
    const g = pick(r, GARBAGE);
    put(file, g);
    return `config.json is ${JSON.stringify(g.slice(0, 20))}`;
  }
  if (op === 2) {
    const b = Buffer.from(fs.readFileSync(file));
    for (let i = 0; i < 3; i++) b[below(r, b.length)] = 32 + below(r, 95);
    put(file, b);
    return '3 characters replaced';
  }
  const cfg = readJson(file);
  const key = pick(r, CONFIG_KEYS);
  const v = below(r, 5) === 0 ? undefined : pick(r, HOSTILE);
  setPath(cfg, key, v);
  put(file, JSON.stringify(cfg));
  return v === undefined ? `${key} deleted` : `${key} = ${JSON.stringify(v)}`;
}

function mutateTokenizer(r: () => number, dir: string): { what: string; names: string[] } {
  const file = path.join(dir, 'tokenizer.json');
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const op = below(r, 12);
  if (op <= 1) return { what: `tokenizer.json ${truncate(r, file)}`, names: ['tokenizer.json'] };
  if (op === 2) return { what: `tokenizer.json ${flipBits(r, file)}`, names: ['tokenizer.json'] };
  if (op === 3) {
    fs.rmSync(file);
    return { what: 'tokenizer.json deleted', names: ['tokenizer.json'] };
  }
  if (op === 4) return { what: `tokenizer_config.json ${truncate(r, cfgFile)}`, names: ['tokenizer_config.json'] };
  if (op === 5) {
    const g = pick(r, GARBAGE);
    put(cfgFile, g);
    return { what: `tokenizer_config.json is ${JSON.stringify(g.slice(0, 20))}`, names: ['tokenizer_config.json'] };
  }
  const t = readJson(file) as Json & { model: Json; added_tokens: Json[] };
  const edits: [string, () => void][] = [
    ['model.vocab deleted', () => delete t.model.vocab],
    ['model.merges deleted', () => delete t.model.merges],
    ['model deleted', () => delete (t as Json).model],
    ['model.type = "Foo"', () => (t.model.type = 'Foo')],
    ['model.type = 42', () => (t.model.type = 42)],
    ['model.vocab = {}', () => (t.model.vocab = {})],
    ['model.vocab = []', () => (t.model.vocab = [])],
    ['model.merges = [1, 2]', () => (t.model.merges = [1, 2])],
    ['added_tokens deleted', () => delete (t as Json).added_tokens],
    ['an added token id = 1e9', () => (t.added_tokens[0]!.id = 1e9)],
    ['an added token id = "x"', () => (t.added_tokens[0]!.id = 'x')],
    ['a vocab id = -5', () => ((t.model.vocab as Json)[Object.keys(t.model.vocab as Json)[below(r, 100) + 10]!] = -5)],
    ['a vocab id = 9e15', () => ((t.model.vocab as Json)[Object.keys(t.model.vocab as Json)[below(r, 100) + 10]!] = 9e15)],
    ['pre_tokenizer = "x"', () => (t.pre_tokenizer = 'x')],
    ['decoder = {"type": "Nope"}', () => (t.decoder = { type: 'Nope' })],
    ['normalizer = 7', () => (t.normalizer = 7)],
    ['the whole vocabulary doubled in size (ids beyond vocab_size)', () => {
      const v = t.model.vocab as Record<string, number>;
      for (const [k, id] of Object.entries(v).slice(0, 9000)) v[`${k}\u00b7`] = id + 9000;
    }],
  ];
  const [what, edit] = pick(r, edits);
  edit();
  put(file, JSON.stringify(t));
  return { what: `tokenizer.json ${what}`, names: ['tokenizer.json'] };
}

/** Rewrites the digits of an external-data "offset" or "length" entry in place (same length: the protobuf stays well-formed). */
function lieAboutSizes(r: () => number, file: string): string {
  const b = Buffer.from(fs.readFileSync(file));
  const text = b.toString('latin1');
  const hits = [...text.matchAll(/(offset|length)\x12([\x01-\x14])/g)];
  if (hits.length === 0) return flipBits(r, file);
  const h = pick(r, hits);
  const start = h.index! + h[0].length;
  const len = h[2]!.charCodeAt(0);
  const style = below(r, 3);
  for (let i = 0; i < len; i++) b[start + i] = style === 0 ? 0x39 : style === 1 ? 0x30 + below(r, 10) : i === 0 ? 0x39 : b[start + i]!;
  put(file, b);
  return `external data ${h[1]} rewritten to ${b.subarray(start, start + len).toString('latin1')}`;
}

/** Breaks one of the folder's ONNX files (graphs and external weights; which exist depends on how the model was built). */
function mutateOnnx(r: () => number, dir: string): { what: string; names: string[] } {
  const onnx = path.join(dir, 'onnx');
  const all = fs.readdirSync(onnx).sort();
  const graphs = all.filter((f) => f.endsWith('.onnx'));
  const data = all.filter((f) => !f.endsWith('.onnx'));
  const op = below(r, 9);
  // An error about external weights names the graph that was being loaded, or the weights file.
  const onGraph = (f: string, what: string) => ({ what: `${f} ${what}`, names: [f] });
  const onData = (f: string, what: string) => ({ what: `${f} ${what}`, names: [f, ...graphs] });
  const g = pick(r, graphs);
  const at = (f: string) => path.join(onnx, f);
  if (op === 0) return onGraph(g, truncate(r, at(g)));
  if (op === 1 || op === 2) return onGraph(g, flipBits(r, at(g)));
  if (op === 3 && data.length) {
    const d = pick(r, data);
    return onData(d, truncate(r, at(d)));
  }
  if (op === 4 && data.length) {
    const d = pick(r, data);
    return onData(d, flipBits(r, at(d)));
  }
  if (op === 5) return onGraph(g, lieAboutSizes(r, at(g)));
  if (op === 6) {
    const gone = pick(r, all);
    fs.rmSync(at(gone));
    return gone.endsWith('.onnx') ? onGraph(gone, 'deleted') : onData(gone, 'deleted');
  }
  const other = path.join(BASE, '..', 'hasten-draft-m', 'onnx', g);
  if (op === 7 && fs.existsSync(other)) {
    // Another model's graph beside this one's weights and config.
    put(at(g), fs.readFileSync(other));
    return onGraph(g, "replaced by hasten-draft-m's");
  }
  put(at(g), crypto.randomBytes(below(r, 4096)));
  return onGraph(g, 'replaced by random bytes');
}

function mutateManifest(r: () => number, root: string): { what: string; names: string[] } {
  const manifest = readJson(MANIFEST) as Json & { models: Record<string, Json> };
  const entry = manifest.models[BASE_NAME] as Json & { files: Record<string, string>; variants: Json };
  const file = path.join(root, 'manifest.json');
  const op = below(r, 12);
  const names = ['manifest.json'];
  let what: string;
  if (op <= 2) {
    const rel = pick(r, Object.keys(entry.files));
    entry.files[rel] = crypto.createHash('sha256').update(String(r())).digest('hex');
    what = `wrong sha256 for ${rel}`;
    names.push(path.basename(rel));
  } else if (op === 3) {
    entry.files['onnx/extra.bin'] = '0'.repeat(64);
    what = 'lists a missing file';
    names.push('extra.bin');
  } else if (op === 4) {
    put(file, pick(r, GARBAGE));
    return { what: 'manifest.json is not a manifest', names };
  } else if (op === 5) {
    (manifest as Json).models = pick(r, [null, [], 'x', 7]);
    what = 'models is not a table';
  } else if (op === 6) {
    (entry as Json).files = pick(r, [null, 'x', 7, [1]]);
    what = `files = ${JSON.stringify(entry.files)}`;
  } else if (op === 7) {
    entry.variants = { standard: 'onnx/nope.onnx', tree: 'onnx/nope_tree.onnx' };
    what = 'variants name missing graphs';
    names.push('nope_tree.onnx', 'nope.onnx');
  } else if (op === 8) {
    entry.variants = { layered: pick(r, [{}, { blocks: 'x' }, { embed: 'a.onnx', blocks: ['b.onnx'], head: 'c.onnx', kvPropagate: 'd.onnx' }]) };
    what = `variants.layered = ${JSON.stringify(entry.variants.layered)}`;
    names.push('a.onnx', 'b.onnx', 'c.onnx', 'd.onnx');
  } else if (op === 9) {
    (entry as Json).kind = 'cmlm';
    what = 'kind = "cmlm"';
    names.push(BASE_NAME);
  } else if (op === 10) {
    manifest.models[BASE_NAME] = pick(r, [null, 'x', 3]) as unknown as Json;
    what = `the entry is ${JSON.stringify(manifest.models[BASE_NAME])}`;
  } else {
    entry.variants = pick(r, [null, 'x', 3]) as unknown as Json;
    what = `variants = ${JSON.stringify(entry.variants)}`;
  }
  put(file, JSON.stringify(manifest));
  return { what, names };
}

const TARGETS: Target[] = ['config', 'tokenizer', 'onnx', 'manifest'];

/** Writes mutant `seed` under `root` (the folder is root/hasten-draft-s) and describes it. */
export function makeMutant(seed: number, root: string): Mutant {
  const r = rng(seed * 7919);
  const target = TARGETS[seed % TARGETS.length]!;
  const dir = path.join(root, BASE_NAME);
  // Whatever the bundled model holds now (graphs differ between exports).
  fs.cpSync(BASE, dir, { recursive: true });
  switch (target) {
    case 'config':
      return { seed, target, what: mutateConfig(r, dir), names: ['config.json'] };
    case 'tokenizer':
      return { seed, target, ...mutateTokenizer(r, dir) };
    case 'onnx':
      return { seed, target, ...mutateOnnx(r, dir) };
    case 'manifest':
      return { seed, target, ...mutateManifest(r, root) };
  }
}

// Mutated safetensors checkpoints for the builder fuzz test: a copy of the bundled hasten-draft-s
// checkpoint (config.json, model.safetensors, tokenizer files) with one thing broken, chosen by a seed.
import fs from 'node:fs';
import path from 'node:path';
import { below, pick, rng } from './random';

export const CHECKPOINT = path.join(__dirname, '..', '..', '..', 'models', 'hasten-draft-s');
const FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

export interface CheckpointMutant {
  seed: number;
  what: string;
  /** Base names of which an error about this mutant must name one. */
  names: string[];
}

type Header = Record<string, { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | Record<string, string>>;

function split(b: Buffer): { header: Header; data: Buffer } {
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Header, data: b.subarray(8 + n) };
}

function join(header: Header, data: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

const HOSTILE_DIMS: unknown[] = [-1, 1.5, 1e12, 2 ** 53, 'x', null, 0];

/** Rewrites one tensor's header entry (the data stays where it was). */
function editTensor(r: () => number, header: Header): string {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = pick(r, names);
  const t = header[name] as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const op = below(r, 9);
  if (op === 0) {
    t.dtype = pick(r, ['I64', 'F64', 'BOOL', 'U8', 42, null]);
    return `${name} dtype ${JSON.stringify(t.dtype)}`;
  }
  if (op === 1) {
    const shape = [...(t.shape as number[])];
    shape[below(r, shape.length)] = pick(r, HOSTILE_DIMS) as number;
    t.shape = shape;
    return `${name} shape ${JSON.stringify(shape)}`;
  }
  if (op === 2) {
    t.shape = [...(t.shape as number[])].reverse();
    return `${name} shape reversed`;
  }
  if (op === 3) {
    const [a, b] = t.data_offsets as [number, number];
    t.data_offsets = pick(r, [[b, a], [a, b + 4], [a + 4, b + 4], [a, 1e15], [-4, b], [a], 'x']);
    return `${name} data_offsets ${JSON.stringify(t.data_offsets)}`;
  }
  if (op === 4) {
    delete header[name];
    return `${name} missing`;
  }
  if (op === 5) {
    header[`${name}.extra`] = { ...t };
    return `${name} listed twice under another name`;
  }
  if (op === 6) {
    header[name] = pick(r, [null, 'x', [], 7]) as never;
    return `${name} entry ${JSON.stringify(header[name])}`;
  }
  if (op === 7) {
    header.__metadata__ = pick(r, [{ format: 'pt' }, null, 'x', { a: 'b' }]) as never;
    return `__metadata__ ${JSON.stringify(header.__metadata__)}`;
  }
  // Another tensor's offsets: right size only if the shapes match, wrong values either way.
  const other = header[pick(r, names)] as { data_offsets?: unknown };
  t.data_offsets = other.data_offsets;
  return `${name} points at another tensor's bytes`;
}

/** Writes mutant `seed` as root/hasten-draft-s and describes it. */
export function makeCheckpointMutant(seed: number, root: string): CheckpointMutant {
  const r = rng(seed * 104_729);
  const dir = path.join(root, 'hasten-draft-s');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of FILES) fs.copyFileSync(path.join(CHECKPOINT, f), path.join(dir, f));
  const file = path.join(dir, 'model.safetensors');
  const b = Buffer.from(fs.readFileSync(file));
  const headerEnd = 8 + Number(b.readBigUInt64LE(0));
  const write = (data: Buffer) => {
    fs.rmSync(file);
    fs.writeFileSync(file, data);
  };
  const op = below(r, 10);
  const on = (what: string) => ({ seed, what: `model.safetensors ${what}`, names: ['model.safetensors'] });
  if (op === 0) {
    const n = below(r, b.length);
    write(b.subarray(0, n));
    return on(`truncated to ${n} of ${b.length} bytes`);
  }
  if (op === 1 || op === 2) {
    // Bits flipped in the header (its JSON) or in the weights.
    const [from, to] = op === 1 ? [8, headerEnd] : [headerEnd, b.length];
    const k = pick(r, [1, 4, 32]);
    for (let i = 0; i < k; i++) b[from + below(r, to - from)]! ^= 1 << below(r, 8);
    write(b);
    // A flip in the header can rename a tensor: then the clear error names the tensor that is missing.
    return { ...on(`${k} bits flipped in the ${op === 1 ? 'header' : 'weights'}`), names: ['model.safetensors', 'has no tensor'] };
  }
  if (op === 3) {
    const lie = pick(r, [0n, 1n, BigInt(b.length), BigInt(headerEnd - 8 - 1), 2n ** 63n, 2n ** 64n - 1n]);
    b.writeBigUInt64LE(lie, 0);
    write(b);
    return on(`header length ${lie}`);
  }
  if (op <= 7) {
    const { header, data } = split(b);
    const what = editTensor(r, header);
    write(join(header, data));
    // A tensor that is missing has no file to name (it could be in any shard): naming it is clear.
    return { ...on(what), names: ['model.safetensors', what.split(' ')[0]!] };
  }
  if (op === 8) {
    fs.rmSync(file);
    return on('deleted');
  }
  // The checkpoint's config.json describes other weights.
  const cfgFile = path.join(dir, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  const key = pick(r, ['hidden_size', 'num_hidden_layers', 'intermediate_size', 'vocab_size', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'model_type', 'tie_word_embeddings']);
  cfg[key] = key === 'model_type' ? pick(r, ['gpt2', 'mistral', 42]) : key === 'tie_word_embeddings' ? !cfg[key] : pick(r, [1, 3, 8, 1e9, -1, 'x']);
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  return { seed, what: `config.json ${key} = ${JSON.stringify(cfg[key])}`, names: ['config.json', 'model.safetensors'] };
}

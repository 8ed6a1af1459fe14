// Converts a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json: a
// bundled model or the benchmark's random stand-in) into a llama.cpp GGUF for the llama.cpp peer,
// from the same weights Hasten's graph builder reads: F32 (exact), or Q8_0 / Q4_0 quantised with
// the builder's own rounding (src/build/weights.ts), so our int8 / int4 graphs and llama.cpp hold
// the same numbers. Architectures: llama (q/k rows permuted for llama.cpp's interleaved RoPE) and
// qwen2 (NEOX RoPE, q/k/v biases).
//
//   npx tsx models/toolchain/gguf.mjs <modelDir> <out.gguf> [F32|Q8_0|Q4_0]   # write one file
//   npx tsx models/toolchain/gguf.mjs --cache <modelDir>...                   # models/.work/gguf/<name>.gguf (F32), rebuilt when sources change
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Checkpoint, floatToHalf } from '../../src/build/safetensors.ts';
import { quantise } from '../../src/build/weights.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Default cache folder for converted models (git-ignored through models/.work/). */
export const GGUF_CACHE_DIR = path.resolve(here, '..', '.work', 'gguf');
/** Bumped whenever the writer's output changes, so cached files are rebuilt. */
export const WRITER_VERSION = 2;
/** The model files a GGUF is derived from; their sha256 keys the cache. */
export const SOURCE_FILES = ['config.json', 'tokenizer.json', 'model.safetensors'];
/** ggml tensor types, their block sizes and bytes per block. */
export const GGML = { F32: { id: 0, block: 1, bytes: 4 }, F16: { id: 1, block: 1, bytes: 2 }, Q4_0: { id: 2, block: 32, bytes: 18 }, Q8_0: { id: 8, block: 32, bytes: 34 } };
/** general.file_type of an all-F32 / mostly-Q4_0 / mostly-Q8_0 file. */
const FILE_TYPE = { F32: 0, Q4_0: 2, Q8_0: 7 };
export const ALIGNMENT = 32;

// GGUF value types.
const T = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12 };
const FIM_KEYS = { '<|fim_prefix|>': 'fim_pre', '<|fim_suffix|>': 'fim_suf', '<|fim_middle|>': 'fim_mid', '<|fim_pad|>': 'fim_pad' };

/** Rows of a q/k projection [nHead*hd, in] reordered from HF's rotate_half halves to llama.cpp's interleaved pairs. */
export function permuteRope(w /* [rows, cols] */, rows, cols, nHead) {
  const hd = rows / nHead, half = hd / 2, out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = h * hd + j * half + i, to = h * hd + 2 * i + j;
        out.set(w.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}

/** A [rows, cols] weight in ggml's layout: F32 / F16 values, or Q8_0 / Q4_0 blocks of the builder's quantisation. */
export function encodeTensor(data, rows, cols, type) {
  if (type === 'F32') return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (type === 'F16') return Buffer.from(floatToHalf(data).buffer);
  const bits = type === 'Q4_0' ? 4 : 8;
  const q = quantise(data, rows, cols, bits);
  const blocks = rows * (cols / 32);
  const out = Buffer.alloc(blocks * GGML[type].bytes);
  const d16 = floatToHalf(q.scales);
  for (let b = 0; b < blocks; b++) {
    const at = b * GGML[type].bytes;
    out.writeUInt16LE(d16[b], at);
    if (bits === 8) {
      for (let j = 0; j < 32; j++) out.writeInt8(q.packed[b * 32 + j] - 128, at + 2 + j);
    } else {
      // MatMulNBits packs neighbours (j, j+1) in a byte; Q4_0 packs j (low nibble) with j + 16 (high).
      const code = (j) => { const byte = q.packed[b * 16 + (j >> 1)]; return j & 1 ? byte >> 4 : byte & 15; };
      for (let j = 0; j < 16; j++) out[at + 2 + j] = code(j) | (code(j + 16) << 4);
    }
  }
  return out;
}

/**
 * GGUF tensors ({name, shape in numpy order, type, bytes}) of a checkpoint. `quant` (F32, Q8_0 or
 * Q4_0) is the type of every 2-D projection and of the LM head; in quantised files the embedding
 * is F16, as in Hasten's int8/int4 graphs.
 */
export function ggufTensors(read, cfg, quant = 'F32') {
  const arch = cfg.model_type === 'qwen2' ? 'qwen2' : 'llama';
  const t = (name, w, type) => ({ name, shape: w.shape, type, bytes: encodeTensor(w.data, w.shape[0], w.shape[1] ?? 1, type) });
  const linear = (n, permuteHeads) => {
    const w = read(n);
    const data = permuteHeads && arch === 'llama' ? permuteRope(w.data, w.shape[0], w.shape[1], permuteHeads) : w.data;
    return { data, shape: w.shape };
  };
  const tensors = [t('token_embd.weight', read('model.embed_tokens.weight'), quant === 'F32' ? 'F32' : 'F16')];
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    tensors.push(
      t(`blk.${i}.attn_norm.weight`, read(`${p}.input_layernorm.weight`), 'F32'),
      t(`blk.${i}.attn_q.weight`, linear(`${p}.self_attn.q_proj.weight`, cfg.num_attention_heads), quant),
      t(`blk.${i}.attn_k.weight`, linear(`${p}.self_attn.k_proj.weight`, cfg.num_key_value_heads), quant),
      t(`blk.${i}.attn_v.weight`, linear(`${p}.self_attn.v_proj.weight`, 0), quant),
      t(`blk.${i}.attn_output.weight`, linear(`${p}.self_attn.o_proj.weight`, 0), quant),
      t(`blk.${i}.ffn_norm.weight`, read(`${p}.post_attention_layernorm.weight`), 'F32'),
      t(`blk.${i}.ffn_gate.weight`, linear(`${p}.mlp.gate_proj.weight`, 0), quant),
      t(`blk.${i}.ffn_up.weight`, linear(`${p}.mlp.up_proj.weight`, 0), quant),
      t(`blk.${i}.ffn_down.weight`, linear(`${p}.mlp.down_proj.weight`, 0), quant),
    );
    if (arch === 'qwen2') {
      for (const x of ['q', 'k', 'v']) tensors.push(t(`blk.${i}.attn_${x}.bias`, read(`${p}.self_attn.${x}_proj.bias`), 'F32'));
    }
  }
  const head = cfg.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  tensors.push(t('output_norm.weight', read('model.norm.weight'), 'F32'), t('output.weight', read(head), quant));
  return tensors;
}

/** GGUF metadata (key -> [type, value]) from config.json and tokenizer.json. */
export function llamaMetadata(cfg, tok, name, quant = 'F32') {
  const arch = cfg.model_type === 'qwen2' ? 'qwen2' : 'llama';
  const headDim = cfg.head_dim ?? cfg.hidden_size / cfg.num_attention_heads;
  if (headDim * cfg.num_attention_heads !== cfg.hidden_size) throw new Error(`gguf: ${name}: head_dim ${headDim} x ${cfg.num_attention_heads} heads != hidden_size ${cfg.hidden_size}`);
  // ids 0..vocab_size-1: the BPE vocabulary, then added tokens, then padding up to the embedding's rows.
  const byId = new Map(Object.entries(tok.model.vocab).map(([t, id]) => [id, t]));
  for (const t of tok.added_tokens) byId.set(t.id, t.content);
  if (byId.size > cfg.vocab_size) throw new Error(`gguf: ${name}: tokenizer.json has ${byId.size} tokens, more than vocab_size ${cfg.vocab_size}`);
  const tokens = Array.from({ length: cfg.vocab_size }, (_, i) => byId.get(i) ?? `[PAD${i}]`);
  const special = new Map(tok.added_tokens.filter((t) => t.special).map((t) => [t.content, t.id]));
  const types = tokens.map((t, i) => (special.has(t) ? 3 : byId.has(i) ? 1 : 5));
  const merges = tok.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const eosRaw = cfg.eos_token_id ?? special.get('<|endoftext|>');
  const eos = Array.isArray(eosRaw) ? eosRaw[0] : eosRaw;
  const md = [
    ['general.architecture', T.str, arch],
    ['general.name', T.str, name],
    ['general.file_type', T.u32, FILE_TYPE[quant]],
    ['general.alignment', T.u32, ALIGNMENT],
    [`${arch}.vocab_size`, T.u32, cfg.vocab_size],
    [`${arch}.context_length`, T.u32, cfg.max_position_embeddings],
    [`${arch}.embedding_length`, T.u32, cfg.hidden_size],
    [`${arch}.block_count`, T.u32, cfg.num_hidden_layers],
    [`${arch}.feed_forward_length`, T.u32, cfg.intermediate_size],
    [`${arch}.attention.head_count`, T.u32, cfg.num_attention_heads],
    [`${arch}.attention.head_count_kv`, T.u32, cfg.num_key_value_heads],
    [`${arch}.attention.layer_norm_rms_epsilon`, T.f32, cfg.rms_norm_eps],
    [`${arch}.rope.dimension_count`, T.u32, headDim],
    [`${arch}.rope.freq_base`, T.f32, cfg.rope_theta ?? 10000],
    ['tokenizer.ggml.model', T.str, 'gpt2'],
    ['tokenizer.ggml.pre', T.str, arch === 'qwen2' ? 'qwen2' : 'gpt-2'],
    ['tokenizer.ggml.tokens', T.arr, [T.str, tokens]],
    ['tokenizer.ggml.token_type', T.arr, [T.i32, types]],
    ['tokenizer.ggml.merges', T.arr, [T.str, merges]],
    ['tokenizer.ggml.bos_token_id', T.u32, eos],
    ['tokenizer.ggml.eos_token_id', T.u32, eos],
    ['tokenizer.ggml.add_bos_token', T.bool, false],
    ['tokenizer.ggml.add_eos_token', T.bool, false],
  ];
  if (cfg.pad_token_id != null) md.push(['tokenizer.ggml.padding_token_id', T.u32, cfg.pad_token_id]);
  for (const [content, key] of Object.entries(FIM_KEYS)) if (special.has(content)) md.push([`tokenizer.ggml.${key}_token_id`, T.u32, special.get(content)]);
  return md;
}

class Writer {
  constructor() { this.chunks = []; this.size = 0; }
  push(b) { this.chunks.push(b); this.size += b.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  pad() { const n = (ALIGNMENT - (this.size % ALIGNMENT)) % ALIGNMENT; if (n) this.push(Buffer.alloc(n)); }
  value(type, v) {
    switch (type) {
      case T.u32: return this.u32(v);
      case T.i32: return this.i32(v);
      case T.f32: return this.f32(v);
      case T.bool: return this.push(Buffer.from([v ? 1 : 0]));
      case T.str: return this.str(v);
      case T.arr: { const [et, items] = v; this.u32(et); this.u64(items.length); for (const x of items) this.value(et, x); return; }
      default: throw new Error(`gguf: writer has no encoding for type ${type}`);
    }
  }
}

/** The GGUF bytes (v3) for the given metadata and tensors ({name, shape, type, bytes}). */
export function encodeGguf(metadata, tensors) {
  const w = new Writer();
  w.push(Buffer.from('GGUF'));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(metadata.length);
  for (const [key, type, value] of metadata) { w.str(key); w.u32(type); w.value(type, value); }
  let offset = 0;
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d); // GGUF dims are ne0 (innermost) first
    w.u32(GGML[t.type].id);
    w.u64(offset);
    offset += Math.ceil(t.bytes.length / ALIGNMENT) * ALIGNMENT;
  }
  w.pad();
  for (const t of tensors) {
    w.push(t.bytes);
    w.pad();
  }
  return Buffer.concat(w.chunks, w.size);
}

/** Writes `<out>` as a GGUF (F32, Q8_0 or Q4_0) converted from the checkpoint folder `modelDir`. */
export function writeGguf(modelDir, out, quant = 'F32') {
  const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
  if (cfg.model_type !== 'llama' && cfg.model_type !== 'qwen2') throw new Error(`gguf: ${modelDir}/config.json has model_type ${cfg.model_type}; llama and qwen2 decoders convert`);
  if (!(quant in FILE_TYPE)) throw new Error(`gguf: unknown type ${quant}; use F32, Q8_0 or Q4_0`);
  const tok = JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8'));
  const name = cfg.hasten?.name ?? path.basename(path.resolve(modelDir));
  const ckpt = Checkpoint.open(modelDir);
  const read = (n) => ({ data: ckpt.read(n), shape: ckpt.info(n).shape });
  const bytes = encodeGguf(llamaMetadata(cfg, tok, name, quant), ggufTensors(read, cfg, quant));
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, out); // atomic: a concurrent reader never sees half a file
  return out;
}

/** sha256 of each source file of `modelDir`, plus the writer version: the cache key. */
export function sourceKey(modelDir) {
  const files = Object.fromEntries(SOURCE_FILES.map((f) => [f, createHash('sha256').update(fs.readFileSync(path.join(modelDir, f))).digest('hex')]));
  return { writerVersion: WRITER_VERSION, files };
}

/** The cached GGUF of `modelDir` (`<cacheDir>/<folder name>[.<quant>].gguf`), converted again when its sources changed. */
export function ensureGguf(modelDir, cacheDir = GGUF_CACHE_DIR, quant = 'F32') {
  const out = path.join(cacheDir, `${path.basename(path.resolve(modelDir))}${quant === 'F32' ? '' : `.${quant}`}.gguf`);
  const stamp = `${out}.json`;
  const key = JSON.stringify({ ...sourceKey(modelDir), quant });
  if (fs.existsSync(out) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === key) return { path: out, converted: false };
  writeGguf(modelDir, out, quant);
  fs.writeFileSync(stamp, key);
  return { path: out, converted: true };
}

/** Parses a GGUF file: version, metadata (key -> value), tensor infos (name, dims ne0-first, type, offset) and the data section's start. */
export function readGguf(buf) {
  let p = 0;
  const u32 = () => { const v = buf.readUInt32LE(p); p += 4; return v; };
  const u64 = () => { const v = Number(buf.readBigUInt64LE(p)); p += 8; return v; };
  const str = () => { const n = u64(); const s = buf.toString('utf8', p, p + n); p += n; return s; };
  const value = (type) => {
    switch (type) {
      case T.u8: return buf[p++];
      case T.i8: return buf.readInt8(p++);
      case T.u16: p += 2; return buf.readUInt16LE(p - 2);
      case T.i16: p += 2; return buf.readInt16LE(p - 2);
      case T.u32: return u32();
      case T.i32: p += 4; return buf.readInt32LE(p - 4);
      case T.f32: p += 4; return buf.readFloatLE(p - 4);
      case T.bool: return buf[p++] !== 0;
      case T.str: return str();
      case T.u64: return u64();
      case T.i64: p += 8; return Number(buf.readBigInt64LE(p - 8));
      case T.f64: p += 8; return buf.readDoubleLE(p - 8);
      case T.arr: { const et = u32(), n = u64(); return Array.from({ length: n }, () => value(et)); }
      default: throw new Error(`gguf: unknown value type ${type} at byte ${p}`);
    }
  };
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error('gguf: bad magic');
  p = 4;
  const version = u32(), nTensors = u64(), nKv = u64();
  const metadata = {}, types = {};
  for (let i = 0; i < nKv; i++) { const k = str(); const t = u32(); types[k] = t; metadata[k] = value(t); }
  const tensors = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str(), nd = u32();
    const dims = Array.from({ length: nd }, u64);
    tensors.push({ name, dims, type: u32(), offset: u64() });
  }
  const align = metadata['general.alignment'] ?? ALIGNMENT;
  const dataStart = Math.ceil(p / align) * align;
  return { version, metadata, types, tensors, dataStart };
}

function main(argv) {
  if (argv[0] === '--cache' && argv.length > 1) {
    for (const dir of argv.slice(1)) { const r = ensureGguf(dir); console.log(`gguf: ${r.path}${r.converted ? ' (converted)' : ' (up to date)'}`); }
    return 0;
  }
  if (argv.length !== 2 && argv.length !== 3) {
    console.error('usage: npx tsx models/toolchain/gguf.mjs <modelDir> <out.gguf> [F32|Q8_0|Q4_0]\n       npx tsx models/toolchain/gguf.mjs --cache <modelDir>...   (writes models/.work/gguf/<name>.gguf)');
    return 2;
  }
  const t0 = Date.now();
  writeGguf(argv[0], argv[1], argv[2] ?? 'F32');
  console.log(`gguf: ${argv[1]} (${(fs.statSync(argv[1]).size / 1e6).toFixed(1)} MB, ${Date.now() - t0} ms)`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));

// Reading Hugging Face checkpoints: one model.safetensors or shards listed in
// model.safetensors.index.json. Headers are validated against the file before any tensor is read,
// and tensors are read one at a time at their offsets, so a model is never held twice in memory.
import fs from 'node:fs';
import path from 'node:path';
import { BuildError } from './errors';

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
/** A safetensors header larger than this is not a checkpoint header (the format caps it at 100 MB). */
const MAX_HEADER = 100_000_000;

export interface TensorInfo {
  file: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  /** Absolute byte range in `file`. */
  begin: number;
  end: number;
}

const HALF = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return table;
})();

/** Exact fp16 bits to fp32 values. */
export function halfToFloat(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = HALF[src[i]!]!;
  return out;
}

/** fp32 to fp16 bits, round to nearest even (what numpy and torch do). */
export function floatToHalf(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i]!;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let m = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      if (rest > half || (rest === half && m & 1)) m++;
      out[i] = sign | m;
      continue;
    }
    let m = mant >>> 13;
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
      m++;
      if (m === 0x400) {
        m = 0;
        e++;
        if (e >= 0x1f) {
          out[i] = sign | 0x7c00;
          continue;
        }
      }
    }
    out[i] = sign | (e << 10) | m;
  }
  return out;
}

function parseHeader(file: string): Map<string, TensorInfo> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new BuildError(`${file} cannot be opened (${(err as Error).message}).`, 'Check that the checkpoint folder is complete.');
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) throw new BuildError(`${file} is truncated: ${size} bytes, shorter than a safetensors header.`, 'Download the file again.');
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n > MAX_HEADER || 8 + n > size) {
      throw new BuildError(`${file}: its header claims ${n} bytes but the file has ${size}: truncated or not a safetensors file.`, 'Download the file again.');
    }
    const json = Buffer.alloc(n);
    fs.readSync(fd, json, 0, n, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
      if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('not an object');
    } catch (err) {
      throw new BuildError(`${file}: the safetensors header is not valid JSON (${(err as Error).message}).`, 'The file is damaged: download it again.');
    }
    const base = 8 + n;
    const out = new Map<string, TensorInfo>();
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      out.set(name, tensorInfo(file, name, v, base, size));
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

function tensorInfo(file: string, name: string, v: unknown, base: number, size: number): TensorInfo {
  const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const where = `${file}: tensor ${name}`;
  if (typeof e !== 'object' || e === null) throw new BuildError(`${where} has no header entry.`, 'The file is damaged: download it again.');
  if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
    throw new BuildError(`${where} has dtype ${JSON.stringify(e.dtype)}; the builder reads F32, F16 and BF16.`, 'Convert the checkpoint to a float dtype (e.g. with transformers: model.save_pretrained after .half()).');
  }
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new BuildError(`${where} has an invalid shape ${JSON.stringify(shape)}.`, 'The file is damaged: download it again.');
  const off = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0]) {
    throw new BuildError(`${where} has invalid data_offsets ${JSON.stringify(off)}.`, 'The file is damaged: download it again.');
  }
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const bytes = numel * DTYPE_BYTES[e.dtype]!;
  if (off[1] - off[0] !== bytes) {
    throw new BuildError(`${where}: shape ${JSON.stringify(shape)} of ${e.dtype} needs ${bytes} bytes but its offsets span ${off[1] - off[0]}.`, 'The header lies about the tensor size: the file is damaged or hostile; download it again.');
  }
  if (base + off[1] > size) {
    throw new BuildError(`${where} ends at byte ${base + off[1]} but the file has ${size}: truncated.`, 'Download the file again (an interrupted download leaves a short file).');
  }
  return { file, dtype: e.dtype as TensorInfo['dtype'], shape: shape as number[], begin: base + off[0], end: base + off[1] };
}

/** The tensors of a checkpoint folder, by name. */
export class Checkpoint {
  private constructor(readonly dir: string, private readonly tensors: Map<string, TensorInfo>, readonly files: string[]) {}

  /** Opens model.safetensors, or the shards listed in model.safetensors.index.json. */
  static open(dir: string): Checkpoint {
    const single = path.join(dir, 'model.safetensors');
    const index = path.join(dir, 'model.safetensors.index.json');
    if (fs.existsSync(index)) {
      let map: Record<string, unknown>;
      try {
        map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, unknown> }).weight_map;
        if (typeof map !== 'object' || map === null) throw new Error('no weight_map');
      } catch (err) {
        throw new BuildError(`${index} is not a valid index (${(err as Error).message}).`, 'Download the checkpoint again.');
      }
      const shards = [...new Set(Object.values(map))];
      const tensors = new Map<string, TensorInfo>();
      for (const shard of shards) {
        if (typeof shard !== 'string' || shard.includes('..') || path.isAbsolute(shard)) throw new BuildError(`${index} names an invalid shard ${JSON.stringify(shard)}.`, 'Download the checkpoint again.');
        const file = path.join(dir, shard);
        if (!fs.existsSync(file)) throw new BuildError(`${file} is missing: ${index} lists it as a shard.`, 'Download the missing shard (an interrupted download?).');
        for (const [k, v] of parseHeader(file)) tensors.set(k, v);
      }
      for (const [name, shard] of Object.entries(map)) {
        if (tensors.get(name)?.file !== path.join(dir, shard as string)) throw new BuildError(`${index} puts ${name} in ${shard as string}, which does not hold it.`, 'Download the checkpoint again.');
      }
      return new Checkpoint(dir, tensors, shards.map((s) => path.join(dir, s as string)));
    }
    if (fs.existsSync(single)) return new Checkpoint(dir, parseHeader(single), [single]);
    throw new BuildError(`${dir} has no model.safetensors or model.safetensors.index.json.`, 'Point --from at a Hugging Face checkpoint folder (safetensors weights); .bin (pickle) checkpoints are not read, for safety.');
  }

  /** One safetensors file on its own (not a checkpoint folder), e.g. a model's exit classifier. */
  static openFile(file: string): Checkpoint {
    return new Checkpoint(path.dirname(file), parseHeader(file), [file]);
  }

  get names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new BuildError(`${this.dir}: the checkpoint has no tensor ${name}.`, 'The checkpoint is incomplete or of another architecture than config.json says.');
    return t;
  }

  /** A tensor as fp32 (exact for F16 and BF16), checked against the expected shape. */
  read(name: string, shape?: readonly number[]): Float32Array {
    const t = this.info(name);
    if (shape && (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i]))) {
      throw new BuildError(`${t.file}: tensor ${name} has shape [${t.shape.join(', ')}], but config.json implies [${shape.join(', ')}].`, 'config.json does not describe these weights: use the config saved with the checkpoint.');
    }
    const bytes = Buffer.alloc(t.end - t.begin);
    const fd = fs.openSync(t.file, 'r');
    try {
      let done = 0;
      while (done < bytes.length) {
        const n = fs.readSync(fd, bytes, done, bytes.length - done, t.begin + done);
        if (n === 0) throw new BuildError(`${t.file} ended while reading ${name}: truncated.`, 'Download the file again.');
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    if (t.dtype === 'F32') return new Float32Array(ab);
    const u16 = new Uint16Array(ab);
    if (t.dtype === 'F16') return halfToFloat(u16);
    const out = new Float32Array(u16.length);
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < u16.length; i++) u32[i] = u16[i]! << 16;
    return out;
  }
}

/** fp32 to bf16 bits, round to nearest even. */
export function floatToBf16(src: Float32Array): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i]!;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Writes a safetensors file (tensors in the given order, F32, F16 or BF16). */
export function writeSafetensors(file: string, tensors: { name: string; shape: number[]; data: Float32Array }[], dtype: 'F32' | 'F16' | 'BF16', metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  const blobs: Uint8Array[] = [];
  for (const t of tensors) {
    const raw = dtype === 'F32' ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
      : new Uint8Array((dtype === 'F16' ? floatToHalf(t.data) : floatToBf16(t.data)).buffer);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + raw.length] };
    off += raw.length;
    blobs.push(raw);
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, ...blobs]));
}

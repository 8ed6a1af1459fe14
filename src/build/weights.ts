// The one weights file every graph of a built model reads, and the precisions a linear layer can
// be stored in: fp32, fp16 (upcast when the session loads) or block-quantised for MatMulNBits.
import fs from 'node:fs';
import { floatToHalf } from './safetensors';
import { DT, DataType, StoredTensor } from './onnx';

export const DTYPES = ['fp32', 'fp16', 'int8', 'int4'] as const;
export type Dtype = (typeof DTYPES)[number];

/** Weights of one block-quantised linear layer, laid out as MatMulNBits reads them. */
export interface Quantised {
  bits: 4 | 8;
  /** [N, blocks, blockSize * bits / 8] */
  packed: Uint8Array;
  /** [N * blocks], each the fp16-rounded step of its block */
  scales: Float32Array;
  n: number;
  k: number;
  blockSize: number;
}

const f16 = (x: number): number => {
  const h = floatToHalf(Float32Array.of(x))[0]!;
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
};

/**
 * Symmetric block quantisation of a [n, k] (out, in) weight, the same rounding as llama.cpp's
 * Q4_0 (step = the signed largest value / -8) and Q8_0 (step = largest magnitude / 127), steps
 * rounded to fp16: our int4/int8 graphs and a Q4_0/Q8_0 GGUF then hold the same numbers.
 */
export function quantise(w: Float32Array, n: number, k: number, bits: 4 | 8, blockSize = 32): Quantised {
  if (k % blockSize !== 0) throw new RangeError(`quantise: in-features ${k} is not a multiple of the block size ${blockSize}`);
  const blocks = k / blockSize;
  const blob = (blockSize * bits) / 8;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zero = bits === 4 ? 8 : 128;
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      const base = r * k + b * blockSize;
      let max = 0;
      let amax = 0;
      for (let j = 0; j < blockSize; j++) {
        const v = w[base + j]!;
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = bits === 4 ? max / -8 : amax / 127;
      const id = d ? 1 / d : 0;
      scales[r * blocks + b] = f16(d);
      const out = (r * blocks + b) * blob;
      for (let j = 0; j < blockSize; j++) {
        const x = w[base + j]! * id;
        if (bits === 4) {
          const q = Math.min(15, Math.max(0, Math.trunc(x + 8.5)));
          packed[out + (j >> 1)]! |= j & 1 ? q << 4 : q;
        } else {
          packed[out + j] = Math.max(0, Math.min(255, Math.round(x) + zero));
        }
      }
    }
  }
  return { bits, packed, scales, n, k, blockSize };
}

/** Appends tensors to one external-data file, each once, 64-byte aligned; graphs refer to them by offset. */
export class WeightStore {
  private fd: number;
  private offset = 0;
  private stored = new Map<string, StoredTensor>();

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'w');
  }

  get bytes(): number {
    return this.offset;
  }

  get(name: string): StoredTensor | undefined {
    return this.stored.get(name);
  }

  /** Stores raw bytes under a name (once). */
  put(name: string, dataType: DataType, dims: number[], bytes: Uint8Array): StoredTensor {
    const have = this.stored.get(name);
    if (have) return have;
    const pad = (64 - (this.offset % 64)) % 64;
    if (pad) fs.writeSync(this.fd, new Uint8Array(pad), 0, pad, this.offset);
    this.offset += pad;
    let done = 0;
    while (done < bytes.length) done += fs.writeSync(this.fd, bytes, done, bytes.length - done, this.offset + done);
    const t: StoredTensor = { name, dims, dataType, offset: this.offset, length: bytes.length };
    this.offset += bytes.length;
    this.stored.set(name, t);
    return t;
  }

  float(name: string, dims: number[], data: Float32Array): StoredTensor {
    return this.put(name, DT.FLOAT, dims, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  half(name: string, dims: number[], data: Float32Array): StoredTensor {
    const h = floatToHalf(data);
    return this.put(name, DT.FLOAT16, dims, new Uint8Array(h.buffer));
  }

  close(): void {
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
  }
}

/** [rows, cols] -> [cols, rows] */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

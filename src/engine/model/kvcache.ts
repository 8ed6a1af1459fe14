// The KV cache of one causal model, batch 1.
//
// Rollback without copying: the graph appends each step's K/V after the past and returns the
// whole cache ([1, kv_heads, S, head_dim], head-major, so dropping slots would take a copy per
// head). Instead every physical slot has a validity flag; rejected draft tokens simply become
// holes that the attention mask hides. Positions (RoPE) count valid slots only, so holes change
// nothing numerically. Holes are squeezed out by `compact` once they exceed a quarter of the cache.
//
// On a device (WebGPU) the tensors are the graph's `gpu-buffer` presents, fed back as past and released
// when replaced. They cannot be read back from Node, so there is no compaction there: holes stay
// masked, and `CausalModel.retain` starts a fresh cache (the next prompt is prefilled on the device)
// once they exceed the same quarter.
import * as ort from 'onnxruntime-node';
import { onDevice, release } from './device';

/** Element type of the cache: the graph's own K/V type, so a float16 export's cache is never converted. */
export type KvType = 'float32' | 'float16';

export class KvCache {
  private keys: ort.Tensor[] = [];
  private values: ort.Tensor[] = [];
  private flags = new Uint8Array(256);
  /** Physical slots, holes included. */
  length = 0;
  /** Valid slots: the tokens the model has really seen. */
  count = 0;
  /** How many compactions ran (for the benchmark's rollback figures). */
  compactions = 0;
  compactMs = 0;

  constructor(readonly layers: number, readonly kvHeads: number, readonly headDim: number, readonly type: KvType = 'float32', public device = false) {
    this.reset();
  }

  /** Releases the device tensors (a host cache is left to the garbage collector). */
  release(): void {
    for (const t of [...this.keys, ...this.values]) release(t);
  }

  reset(): void {
    this.release();
    const empty = () => new ort.Tensor(this.type, this.type === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, this.kvHeads, 0, this.headDim]);
    this.keys = Array.from({ length: this.layers }, empty);
    this.values = Array.from({ length: this.layers }, empty);
    this.flags.fill(0);
    this.length = 0;
    this.count = 0;
  }

  isValid(slot: number): boolean {
    return this.flags[slot] === 1;
  }

  key(layer: number): ort.Tensor {
    return this.keys[layer]!;
  }

  value(layer: number): ort.Tensor {
    return this.values[layer]!;
  }

  /** Replaces the tensors with a run's presents, whose last `added` slots start out tentative (holes). */
  append(keys: ort.Tensor[], values: ort.Tensor[], added: number): void {
    for (const t of [...this.keys, ...this.values]) if (onDevice(t) && !keys.includes(t) && !values.includes(t)) release(t);
    this.keys = keys;
    this.values = values;
    const total = this.length + added;
    if (total > this.flags.length) {
      const grown = new Uint8Array(Math.max(total, this.flags.length * 2));
      grown.set(this.flags);
      this.flags = grown;
    }
    this.flags.fill(0, this.length, total);
    this.length = total;
  }

  /** Marks slots (physical indices) as valid. */
  keep(slots: Iterable<number>): void {
    for (const s of slots) {
      if (s < 0 || s >= this.length) throw new RangeError(`KV slot ${s} is outside the cache (length ${this.length})`);
      if (!this.flags[s]) {
        this.flags[s] = 1;
        this.count++;
      }
    }
  }

  /** Turns valid slots back into holes (rollback of tokens that were kept earlier). */
  drop(slots: Iterable<number>): void {
    for (const s of slots) {
      if (this.flags[s]) {
        this.flags[s] = 0;
        this.count--;
      }
    }
  }

  /** True when holes exceed a quarter of the cache (and at least 32 slots). */
  get holey(): boolean {
    return this.length - this.count >= 32 && this.holeFraction > 0.25;
  }

  /** Holes as a fraction of the physical cache. */
  get holeFraction(): number {
    return this.length === 0 ? 0 : (this.length - this.count) / this.length;
  }

  /** Moves the valid slots together, dropping every hole. */
  compact(): void {
    const t0 = performance.now();
    const runs = this.validRuns();
    let n = 0;
    for (let r = 0; r < runs.length; r += 2) n += runs[r + 1]! - runs[r]!;
    const hd = this.headDim;
    // In place, one move per run of valid slots. Each tensor's buffer is a JS copy the cache owns,
    // and every slot moves to a lower index, so copyWithin in order never overwrites unread data.
    // Fresh buffers cost a page fault per 4 KiB on this VM (about 4 ms a compaction at ~250 slots).
    const squeeze = (t: ort.Tensor): ort.Tensor => {
      const data = t.data as Float32Array | Uint16Array;
      let dst = 0;
      for (let h = 0; h < this.kvHeads; h++) {
        const base = h * this.length * hd;
        for (let r = 0; r < runs.length; r += 2) {
          const from = base + runs[r]! * hd;
          const to = base + runs[r + 1]! * hd;
          data.copyWithin(dst, from, to);
          dst += to - from;
        }
      }
      return new ort.Tensor(this.type, data.subarray(0, dst), [1, this.kvHeads, n, hd]);
    };
    this.keys = this.keys.map(squeeze);
    this.values = this.values.map(squeeze);
    this.flags.fill(0);
    this.flags.fill(1, 0, n);
    this.length = n;
    this.count = n;
    this.compactions++;
    this.compactMs += performance.now() - t0;
  }

  /** Runs of consecutive valid slots as [start, end) pairs, flattened. */
  private validRuns(): number[] {
    const runs: number[] = [];
    for (let s = 0; s < this.length; s++) {
      if (!this.flags[s]) continue;
      if (runs.length && runs[runs.length - 1] === s) runs[runs.length - 1] = s + 1;
      else runs.push(s, s + 1);
    }
    return runs;
  }

  /** Compacts when holes take more than a quarter of the cache (and at least 32 slots); true if it did. */
  maybeCompact(): boolean {
    if (this.device) return false;
    if (this.holey) {
      this.compact();
      return true;
    }
    return false;
  }
}

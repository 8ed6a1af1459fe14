// A standard (Optimum-style) graph over the masked-holes KV cache (kvcache.ts): chains and, with a
// tree-attention graph, token trees in one pass; without one, a tree's root-to-leaf paths run as a
// batch over tiled copies of the past (host) or one path after another (device, where the past never
// comes back to the host). CausalModel owns the sessions and the token sequence; this owns the slots.
// The graph keeps Optimum's inputs, so on a device it returns whole logits rows (the fast graphs can
// return only argmaxes: deviceKv.ts).
import * as ort from 'onnxruntime-node';
import { ReadBack, runOn } from './device';
import { KvCache } from './kvcache';
import { Logits } from './logits';
import { asFloat32, StandardIo } from './standardIo';

const MIN = -3.4028234663852886e38;

/** Root-to-leaf paths of a tree, as node indices. */
export function paths(parents: readonly number[]): number[][] {
  const hasChild = new Set(parents.filter((p) => p >= 0));
  const out: number[][] = [];
  parents.forEach((_, i) => {
    if (hasChild.has(i)) return;
    const path: number[] = [];
    for (let j = i; j !== -1; j = parents[j]!) path.unshift(j);
    out.push(path);
  });
  return out;
}

export const isChain = (parents: readonly number[]): boolean => parents.every((p, i) => p === i - 1);

interface PendingBatch {
  rows: number[][];
  keys: ort.Tensor[];
  values: ort.Tensor[];
  width: number;
  /** On a device: each path ran as its own chain; the cache slot where path b starts. */
  starts?: number[];
}

export class StandardRunner {
  private pendingBatch: PendingBatch | null = null;
  /** Reused storage for the attention mask / bias feeds (ORT reads inputs in place, during run only). */
  private maskBuf = new BigInt64Array(0);
  private biasBuf = new Float32Array(0);
  /** Tokens of the last forward block (a tree's nodes). */
  private blockLength = 0;
  /** The physical cache slot of each committed token, in order. */
  private slots: number[] = [];

  constructor(readonly cache: KvCache, private readonly io: StandardIo, private readonly readBack?: ReadBack) {}

  private get device(): boolean {
    return this.cache.device;
  }

  reset(): void {
    this.cache.reset();
    this.pendingBatch = null;
    this.blockLength = 0;
    this.slots = [];
  }

  /**
   * Keeps the first n committed tokens (the rest become holes). A device cache cannot be compacted
   * from Node: past a quarter of holes it starts afresh. Returns the tokens kept.
   */
  retain(n: number): number {
    if (n < this.slots.length) {
      this.cache.drop(this.slots.slice(n));
      this.slots.length = n;
      this.compactIfNeeded();
    }
    if (this.device && this.cache.holey) {
      this.reset();
      return 0;
    }
    return n;
  }

  /** A block after the cache: a chain, a tree on `tree` (tree attention), or a tree as paths. */
  async run(session: ort.InferenceSession, tree: ort.InferenceSession | null, tokens: readonly number[], par: readonly number[], dep: number[]): Promise<Logits> {
    if (isChain(par)) return this.runBlock(session, tokens, par, dep, null);
    if (tree) return this.runBlock(tree, tokens, par, dep, tree);
    return this.device ? this.runPathsOnDevice(session, tokens, par) : this.runPaths(session, tokens, par);
  }

  private feedsFor(tokens: readonly number[], positions: number[], rows = 1): Record<string, ort.Tensor> {
    const t = tokens.length / rows;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (x) => BigInt(x)), [rows, t]),
    };
    if (this.io.positions) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(positions, (x) => BigInt(x)), [rows, t]);
    return feeds;
  }

  private async runBlock(session: ort.InferenceSession, tokens: readonly number[], par: readonly number[], dep: number[], tree: ort.InferenceSession | null): Promise<Logits> {
    const c = this.cache;
    const S = c.length;
    const T = tokens.length;
    const feeds = this.feedsFor(tokens, dep.map((d) => c.count + d));
    if (tree) {
      if (this.biasBuf.length < T * (S + T)) this.biasBuf = new Float32Array(Math.max(T * (S + T), 2 * this.biasBuf.length));
      const bias = this.biasBuf.subarray(0, T * (S + T)).fill(MIN);
      for (let i = 0; i < T; i++) {
        const row = i * (S + T);
        for (let j = 0; j < S; j++) if (c.isValid(j)) bias[row + j] = 0;
        for (let j = i; j !== -1; j = par[j]!) bias[row + S + j] = 0;
      }
      feeds.attention_mask = new ort.Tensor('float32', bias, [1, 1, T, S + T]);
    } else {
      if (this.maskBuf.length < S + T) this.maskBuf = new BigInt64Array(Math.max(S + T, 2 * this.maskBuf.length));
      const mask = this.maskBuf.subarray(0, S + T).fill(1n);
      for (let j = 0; j < S; j++) if (!c.isValid(j)) mask[j] = 0n;
      feeds.attention_mask = new ort.Tensor('int64', mask, [1, S + T]);
    }
    for (let l = 0; l < c.layers; l++) {
      feeds[`past_key_values.${l}.key`] = c.key(l);
      feeds[`past_key_values.${l}.value`] = c.value(l);
    }
    this.io.extra(feeds, S);
    // The standard graph keeps Optimum's inputs, so it has no way to leave its rows out: a device reads them all.
    const out = await runOn(session, this.device, feeds, undefined, this.readBack);
    const keys: ort.Tensor[] = [];
    const values: ort.Tensor[] = [];
    for (let l = 0; l < c.layers; l++) {
      keys.push(out[`present.${l}.key`]!);
      values.push(out[`present.${l}.value`]!);
    }
    c.append(keys, values, T);
    this.blockLength = T;
    this.pendingBatch = null;
    const logits = asFloat32(out.logits!);
    return new Logits(logits.data as Float32Array, T, logits.dims[2]!);
  }

  /**
   * Tree verification for graphs without tree attention: every root-to-leaf path is one row of a
   * batch over a copy of the past. Works with any standard export; costs a copy of the cache.
   */
  private async runPaths(session: ort.InferenceSession, tokens: readonly number[], par: readonly number[]): Promise<Logits> {
    const c = this.cache;
    const rows = paths(par);
    const B = rows.length;
    const W = Math.max(...rows.map((r) => r.length));
    const S = c.length;
    const ids: number[] = [];
    const pos: number[] = [];
    const mask = new BigInt64Array(B * (S + W));
    rows.forEach((r, b) => {
      for (let j = 0; j < S; j++) mask[b * (S + W) + j] = c.isValid(j) ? 1n : 0n;
      for (let j = 0; j < W; j++) {
        ids.push(j < r.length ? tokens[r[j]!]! : tokens[r[0]!]!);
        pos.push(c.count + j);
        mask[b * (S + W) + S + j] = j < r.length ? 1n : 0n;
      }
    });
    const feeds = this.feedsFor(ids, pos, B);
    feeds.attention_mask = new ort.Tensor('int64', mask, [B, S + W]);
    const tile = (t: ort.Tensor) => {
      const src = t.data as Float32Array | Uint16Array;
      const out = src instanceof Uint16Array ? new Uint16Array(src.length * B) : new Float32Array(src.length * B);
      for (let b = 0; b < B; b++) out.set(src, b * src.length);
      return new ort.Tensor(c.type, out, [B, ...t.dims.slice(1)]);
    };
    for (let l = 0; l < c.layers; l++) {
      feeds[`past_key_values.${l}.key`] = tile(c.key(l));
      feeds[`past_key_values.${l}.value`] = tile(c.value(l));
    }
    this.io.extra(feeds, S);
    const out = await session.run(feeds);
    const outLogits = asFloat32(out.logits!);
    const V = outLogits.dims[2]!;
    const all = outLogits.data as Float32Array;
    const logits = new Float32Array(tokens.length * V);
    rows.forEach((r, b) => r.forEach((node, j) => logits.set(all.subarray((b * W + j) * V, (b * W + j + 1) * V), node * V)));
    const keys: ort.Tensor[] = [];
    const values: ort.Tensor[] = [];
    for (let l = 0; l < c.layers; l++) {
      keys.push(out[`present.${l}.key`]!);
      values.push(out[`present.${l}.value`]!);
    }
    this.pendingBatch = { rows, keys, values, width: W };
    this.blockLength = tokens.length;
    return new Logits(logits, tokens.length, V);
  }

  /**
   * Tree verification without tree attention on a device, where the past cannot be tiled into a batch
   * (it never comes back to the host): each root-to-leaf path runs as a chain after the committed
   * tokens; its slots stay tentative, so later paths do not see them; commit keeps one path's slots.
   */
  private async runPathsOnDevice(session: ort.InferenceSession, tokens: readonly number[], par: readonly number[]): Promise<Logits> {
    const rows = paths(par);
    const starts: number[] = [];
    const outs: Logits[] = [];
    for (const r of rows) {
      starts.push(this.cache.length);
      outs.push(await this.runBlock(session, r.map((n) => tokens[n]!), r.map((_, j) => j - 1), r.map((_, j) => j), null));
    }
    this.pendingBatch = { rows, keys: [], values: [], width: 0, starts };
    this.blockLength = tokens.length;
    return scatterPaths(rows, outs, tokens.length);
  }

  /** Keeps these nodes of the last block; returns nothing (the slots are recorded). */
  commit(nodes: readonly number[]): void {
    let kept: number[];
    if (this.pendingBatch) {
      kept = this.commitPath(nodes);
    } else {
      const start = this.cache.length - this.blockLength;
      kept = nodes.map((n) => start + n);
      this.cache.keep(kept);
    }
    this.slots.push(...kept);
    this.blockLength = 0;
    this.compactIfNeeded();
  }

  private compactIfNeeded(): void {
    // After compaction the valid slots are 0..count-1, in sequence order.
    if (this.cache.maybeCompact()) this.slots = this.slots.map((_, i) => i);
  }

  private commitPath(nodes: readonly number[]): number[] {
    const p = this.pendingBatch!;
    this.pendingBatch = null;
    const last = nodes[nodes.length - 1];
    const b = last === undefined ? 0 : p.rows.findIndex((r) => r[nodes.length - 1] === last);
    if (b < 0 || nodes.some((n, j) => p.rows[b]![j] !== n)) throw new RangeError('commit() after a batched tree must keep a root-to-node path');
    const c = this.cache;
    if (p.starts) {
      const kept = nodes.map((_, j) => p.starts![b]! + j);
      c.keep(kept);
      return kept;
    }
    const rowOf = (t: ort.Tensor) => {
      const data = t.data as Float32Array | Uint16Array;
      const per = data.length / p.rows.length;
      return new ort.Tensor(c.type, data.slice(b * per, (b + 1) * per), [1, ...t.dims.slice(1)]);
    };
    const start = c.length;
    c.append(p.keys.map(rowOf), p.values.map(rowOf), p.width);
    const kept = nodes.map((_, j) => start + j);
    c.keep(kept);
    return kept;
  }
}

/** One Logits for a tree's nodes from each path's chain run (rows, or only argmaxes, as they were read). */
export function scatterPaths(rows: readonly number[][], outs: readonly Logits[], nodes: number): Logits {
  if (outs.every((o) => !o.hasRows)) {
    const ids = new Int32Array(nodes);
    rows.forEach((r, b) => r.forEach((node, j) => (ids[node] = outs[b]!.argmax(j))));
    return new Logits(new Float32Array(0), nodes, 0, 0, ids);
  }
  const V = outs[0]!.vocab;
  const logits = new Float32Array(nodes * V);
  rows.forEach((r, b) => r.forEach((node, j) => logits.set(outs[b]!.row(j), node * V)));
  return new Logits(logits, nodes, V);
}

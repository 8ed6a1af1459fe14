// One causal LM with its KV cache. `forward` runs a block of new tokens — a chain, or a token tree
// given by parent indices — and `commit` says which of them stay in the cache. Every decoder and
// verifier goes through these two calls, so rollback lives here and nowhere else.
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { HastenError, throwIfAborted } from '../errors';
import { ModelFolder } from './folder';
import { InPlaceKv } from './inplace';
import { KvCache } from './kvcache';
import { runOn } from './device';
import { checkMemory, estimateMemory } from './memory';
import { Logits } from './logits';
import { contextFor, firstLine, openSession, Provider, resolveProvider, RuntimeOptions } from './session';
import { asFloat32, StandardIo } from './standardIo';

const MIN = -3.4028234663852886e38;

export { Logits };

/** Depth of every node of a tree given by parent indices (-1 = attached to the committed sequence). */
export function depths(parents: readonly number[]): number[] {
  const d: number[] = [];
  parents.forEach((p, i) => {
    if (p >= i) throw new RangeError(`tree parent ${p} of node ${i} must come before it`);
    d.push(p < 0 ? 0 : d[p]! + 1);
  });
  return d;
}

const isChain = (parents: readonly number[]) => parents.every((p, i) => p === i - 1);

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

interface PendingBatch {
  rows: number[][];
  keys: ort.Tensor[];
  values: ort.Tensor[];
  width: number;
  /** On a device: each path ran as its own chain; the cache slot where path b starts. */
  starts?: number[];
}

export class CausalModel {
  readonly cache: KvCache;
  private pendingBatch: PendingBatch | null = null;
  /** Reused storage for the attention mask / bias feeds (ORT reads inputs in place, during run only). */
  private maskBuf = new BigInt64Array(0);
  private biasBuf = new Float32Array(0);
  private lastBlock: readonly number[] = [];
  /** The committed tokens, in order, and the physical cache slot of each. */
  private seq: number[] = [];
  private slots: number[] = [];
  /** Forward passes and time spent in them, for statistics. */
  runs = 0;
  runMs = 0;
  /** The sessions' K/V stay on the device (WebGPU): see device.ts. */
  private device = false;
  /** A tree verified path by path on a device's fast graph: the paths, the last one run last. */
  private devicePaths: number[][] | null = null;

  private constructor(
    readonly folder: ModelFolder,
    private standard: ort.InferenceSession,
    private tree: ort.InferenceSession | null,
    /** Where the model runs now: a device that fails mid-decode leaves it on cpu. */
    public provider: Provider,
    /** The builder's fast graph: KV updated in place by onnxruntime, no holes, no copies. */
    private inPlace: InPlaceKv | null = null,
    private readonly runtime: RuntimeOptions | null = null,
    /** A standard export's I/O differences (positions, use_cache_branch, fp16 K/V). */
    private readonly io: StandardIo = new StandardIo(folder.files.standard, standard),
    /** Tokens the cache may hold: hasten.contextTokens, or by provider, within the model's context. */
    readonly contextLength = contextFor(runtime ?? { provider }, folder.config.contextLength, folder.raw),
  ) {
    const c = folder.config;
    this.cache = new KvCache(c.numLayers, c.numKvHeads, c.headDim, this.io.kv);
  }

  /**
   * Opens the folder's graphs. A builder-made folder runs its fast graph (and fast tree graph when
   * `withTree`) on an in-place KV cache; other folders run the standard graph (and its tree graph)
   * with the masked-holes cache. `fast: false` forces the standard graph (for A/B measurements).
   * The context is `runtime.contextTokens` or the provider's default (`contextFor`); on cpu a model
   * whose estimated memory exceeds what is free is refused before any session is created.
   */
  static async open(folder: ModelFolder, runtime: RuntimeOptions, withTree = false, opts: { fast?: boolean } = {}): Promise<CausalModel> {
    const f = folder.files;
    const c = folder.config;
    const useFast = f.fast !== undefined && opts.fast !== false;
    const context = contextFor(runtime, c.contextLength, folder.raw);
    // Host memory only: a GPU provider's device memory is not known here.
    if (resolveProvider(runtime.provider).provider === 'cpu') {
      const graph = useFast ? f.fast! : f.standard;
      // A fast graph's slots are the context plus the tree headroom it was built with.
      const slots = useFast ? Math.min(c.kvSlots ?? c.contextLength, context + (c.kvSlots ?? c.contextLength) - c.contextLength) : context;
      checkMemory(`${folder.name} (${path.relative(folder.dir, graph)})`, estimateMemory(graph, c, folder.raw, slots));
    }
    if (useFast) {
      // On the CPU, a build's CPU graph runs chains and trees in one session, and a step copies K/V rows, not the cache (inplace.ts).
      const cpuGraph = resolveProvider(runtime.provider).provider === 'cpu' ? f.fastCpu : undefined;
      const file = cpuGraph ?? f.fast!;
      const fast = await openSession(file, runtime);
      try {
        checkFastIo(file, folder, fast.session);
        const tree = cpuGraph ? fast.session : withTree && f.fastTree ? (await openSession(f.fastTree, fast.provider === 'cpu' ? { ...runtime, provider: 'cpu' } : runtime)).session : null;
        const kv = new InPlaceKv(c.numLayers, c.numKvHeads, c.headDim, c.kvSlots ?? c.contextLength, undefined, fast.device);
        const m = new CausalModel(folder, fast.session, tree, fast.provider, kv, runtime, undefined, context);
        m.device = fast.device;
        return m;
      } catch (err) {
        await fast.session.release();
        throw err;
      }
    }
    const std = await openSession(f.standard, runtime);
    try {
      checkIo(folder, std.session);
      const io = new StandardIo(f.standard, std.session);
      const tree = withTree && f.tree ? (await openSession(f.tree, std.provider === 'cpu' ? { ...runtime, provider: 'cpu' } : runtime)).session : null;
      const m = new CausalModel(folder, std.session, tree, std.provider, null, runtime, io, context);
      m.device = m.cache.device = std.device;
      return m;
    } catch (err) {
      await std.session.release();
      throw err;
    }
  }

  /** Which graph runs: the builder's fast graph with its in-place cache, or a standard export. */
  get graph(): 'fast' | 'standard' {
    return this.inPlace ? 'fast' : 'standard';
  }

  get vocab(): number {
    return this.folder.config.vocabSize;
  }

  /** True when a token tree can be verified in one pass (the tree-attention graph). */
  get nativeTree(): boolean {
    return this.tree !== null;
  }

  /** Tokens the cache holds. */
  get length(): number {
    return this.inPlace ? this.inPlace.count : this.cache.count;
  }

  reset(): void {
    this.inPlace?.reset();
    this.cache.reset();
    this.pendingBatch = null;
    this.lastBlock = [];
    this.seq = [];
    this.slots = [];
  }

  /** The committed tokens the cache holds, in order. */
  get tokens(): readonly number[] {
    return this.seq;
  }

  /**
   * Keeps the longest common prefix of the cache and `tokens` and drops the rest (as holes), so a
   * new request that shares a prefix with the last one reuses its KV. Returns the kept length.
   */
  retain(tokens: readonly number[]): number {
    let n = 0;
    while (n < this.seq.length && n < tokens.length && this.seq[n] === tokens[n]) n++;
    if (this.inPlace) {
      this.inPlace.truncate(n);
      this.seq.length = n;
      this.slots.length = n;
      return n;
    }
    if (n < this.seq.length) {
      this.cache.drop(this.slots.slice(n));
      this.seq.length = n;
      this.slots.length = n;
      this.compactIfNeeded();
    }
    // A device cache cannot be compacted from Node: past a quarter of holes it starts afresh, and the
    // caller prefills the prompt on the device.
    if (this.device && this.cache.holey) {
      this.reset();
      return 0;
    }
    return n;
  }

  /**
   * Runs `tokens` after the cache. `parents[i]` is the node `tokens[i]` follows (-1: the committed
   * sequence); null means a chain. Returns logits [T, vocab] (with `lastOnly`, a fast graph computes
   * only the last row: what a prefill needs); the new slots stay tentative until commit.
   */
  async forward(tokens: readonly number[], parents: readonly number[] | null, signal?: AbortSignal, opts: { lastOnly?: boolean } = {}): Promise<Logits> {
    throwIfAborted(signal);
    const par = parents ?? tokens.map((_, i) => i - 1);
    if (tokens.length === 0) throw new HastenError('bad-request', 'forward() needs at least one token.', '');
    if (par.length !== tokens.length) throw new RangeError('parents and tokens differ in length');
    const dep = depths(par);
    const deepest = Math.max(...dep) + 1;
    if (this.length + deepest > this.contextLength) {
      throw new HastenError('context-overflow', `The sequence would reach ${this.length + deepest} tokens, beyond the model's context of ${this.contextLength}.`,
        'Shorten the prompt or lower the maximum completion length.');
    }
    const t0 = performance.now();
    let logits: Logits;
    try {
      logits = await this.run(tokens, par, dep, opts.lastOnly === true);
    } catch (err) {
      if (!this.device || signal?.aborted || err instanceof HastenError || err instanceof RangeError) throw err;
      // The device failed mid-decode: continue on the CPU from the committed tokens, and run this block again.
      await this.fallBackToCpu(err, signal);
      logits = await this.run(tokens, par, dep, opts.lastOnly === true);
    }
    this.runs++;
    this.runMs += performance.now() - t0;
    throwIfAborted(signal);
    return logits;
  }

  /** One forward block on whichever graph fits it (see `forward`). */
  private async run(tokens: readonly number[], par: readonly number[], dep: number[], lastOnly: boolean): Promise<Logits> {
    let logits: Logits;
    if (this.inPlace) {
      if (this.length + tokens.length > this.inPlace.slots) {
        throw new HastenError('context-overflow', `A block of ${tokens.length} tokens after ${this.length} does not fit the ${this.inPlace.slots} KV slots of ${this.folder.files.fast}.`,
          'Lower hasten.tree.maxNodes or the maximum completion length, or rebuild the model with a longer --context.');
      }
      const chain = isChain(par);
      if (!chain && !this.tree && !this.device) {
        // Opened for chains only (a draft, or a target loaded without tree attention): load the tree graph on first use.
        const file = this.folder.files.fastTree;
        if (!file || !this.runtime) throw new HastenError('variant-missing', `${this.folder.dir} has no fast tree graph (onnx/model_fast_tree.onnx) to verify a token tree.`, 'Rebuild it with npm run hasten -- build --from CHECKPOINT_DIR --out MODEL_DIR --variants standard,fast,tree, or use a chain strategy (autoregressive, prompt-lookup, draft-model).');
        this.tree = (await openSession(file, { ...this.runtime, provider: this.provider })).session;
      }
      this.lastBlock = tokens;
      this.devicePaths = null;
      if (!chain && this.device) return this.runFastPathsOnDevice(tokens, par);
      logits = await this.inPlace.run(chain ? this.standard : this.tree!, tokens, chain ? null : { parents: par, depths: dep }, lastOnly);
    } else if (isChain(par) || this.tree) {
      logits = await this.runBlock(tokens, par, dep, isChain(par) ? null : this.tree);
    } else {
      logits = await this.runPaths(tokens, par);
    }
    return logits;
  }

  /**
   * A token tree on a device's fast graph. GroupQueryAttention's fused rotary on WebGPU takes each row's
   * position from seqlens_k and ignores position_ids (the builder's tree graph relies on them), so a
   * node off the first branch would be rotated at the wrong position. Each root-to-leaf path runs as a
   * chain instead, over the same slots; the first path runs last, so when it is the one kept its K/V
   * are already in place.
   */
  private async runFastPathsOnDevice(tokens: readonly number[], par: readonly number[]): Promise<Logits> {
    const rows = paths(par).reverse();
    let V = 0;
    let logits = new Float32Array(0);
    for (const r of rows) {
      const out = await this.inPlace!.run(this.standard, r.map((n) => tokens[n]!), null);
      if (!V) logits = new Float32Array(tokens.length * (V = out.vocab));
      r.forEach((node, j) => logits.set(out.row(j), node * V));
    }
    this.devicePaths = rows;
    return new Logits(logits, tokens.length, V);
  }

  /**
   * Reopens the graphs on the CPU after a device failed, and rebuilds the cache from the committed
   * tokens (one prefill), so the completion in flight finishes. The message goes to `onFallback`.
   */
  private async fallBackToCpu(err: unknown, signal?: AbortSignal): Promise<void> {
    const runtime: RuntimeOptions = { ...(this.runtime ?? { threads: 0, shared: true }), provider: 'cpu' };
    runtime.onFallback?.(`Execution provider "${this.provider}" failed while decoding (${firstLine(err)}); continuing on cpu. ` +
      'If it happens again, set hasten.executionProvider to cpu.');
    const f = this.folder.files;
    const fast = this.inPlace !== null;
    const hadTree = this.tree !== null;
    for (const s of [this.standard, this.tree]) await s?.release().catch(() => undefined);
    this.inPlace?.dispose();
    this.cache.release();
    this.standard = (await openSession(fast ? f.fast! : f.standard, runtime)).session;
    const treeFile = fast ? f.fastTree : f.tree;
    this.tree = hadTree && treeFile ? (await openSession(treeFile, runtime)).session : null;
    const c = this.folder.config;
    if (fast) this.inPlace = new InPlaceKv(c.numLayers, c.numKvHeads, c.headDim, this.inPlace!.slots);
    this.device = this.cache.device = false;
    this.provider = 'cpu';
    const seq = [...this.seq];
    this.reset();
    if (seq.length) {
      await this.forward(seq, null, signal, { lastOnly: true });
      this.commit(seq.map((_, i) => i));
    }
  }

  /** Keeps these nodes of the last forward block (indices into its tokens); the rest become holes. */
  commit(nodes: readonly number[]): void {
    if (this.inPlace) {
      const base = this.inPlace.count;
      const last = this.devicePaths?.[this.devicePaths.length - 1];
      if (!last) this.inPlace.commit(nodes);
      else if (nodes.every((n, j) => last[j] === n)) this.inPlace.commit(nodes.map((_, j) => j));
      else this.inPlace.commitStale(nodes.map((n) => this.lastBlock[n]!));
      this.devicePaths = null;
      nodes.forEach((n, j) => {
        this.seq.push(this.lastBlock[n]!);
        this.slots.push(base + j);
      });
      this.lastBlock = [];
      return;
    }
    let kept: number[];
    if (this.pendingBatch) {
      kept = this.commitPath(nodes);
    } else {
      const start = this.cache.length - this.lastBlock.length;
      kept = nodes.map((n) => start + n);
      this.cache.keep(kept);
    }
    nodes.forEach((n, j) => {
      this.seq.push(this.lastBlock[n]!);
      this.slots.push(kept[j]!);
    });
    this.lastBlock = [];
    this.compactIfNeeded();
  }

  private compactIfNeeded(): void {
    // After compaction the valid slots are 0..count-1, in sequence order.
    if (this.cache.maybeCompact()) this.slots = this.slots.map((_, i) => i);
  }

  private feedsFor(tokens: readonly number[], positions: number[], rows = 1): Record<string, ort.Tensor> {
    const t = tokens.length / rows;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, (x) => BigInt(x)), [rows, t]),
    };
    if (this.hasPositions) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(positions, (x) => BigInt(x)), [rows, t]);
    return feeds;
  }

  private get hasPositions(): boolean {
    return this.io.positions;
  }

  private async runBlock(tokens: readonly number[], par: readonly number[], dep: number[], tree: ort.InferenceSession | null): Promise<Logits> {
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
    const out = await runOn(tree ?? this.standard, this.device, feeds);
    const keys: ort.Tensor[] = [];
    const values: ort.Tensor[] = [];
    for (let l = 0; l < c.layers; l++) {
      keys.push(out[`present.${l}.key`]!);
      values.push(out[`present.${l}.value`]!);
    }
    c.append(keys, values, T);
    this.lastBlock = tokens;
    this.pendingBatch = null;
    const logits = asFloat32(out.logits!);
    return new Logits(logits.data as Float32Array, T, logits.dims[2]!);
  }

  /**
   * Tree verification for graphs without tree attention: every root-to-leaf path is one row of a
   * batch over a copy of the past. Works with any standard export; costs a copy of the cache.
   */
  private async runPaths(tokens: readonly number[], par: readonly number[]): Promise<Logits> {
    if (this.device) return this.runPathsOnDevice(tokens, par);
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
    const out = await this.standard.run(feeds);
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
    this.lastBlock = tokens;
    return new Logits(logits, tokens.length, V);
  }

  /**
   * Tree verification without tree attention on a device, where the past cannot be tiled into a batch
   * (it never comes back to the host): each root-to-leaf path runs as a chain after the committed
   * tokens; its slots stay tentative, so later paths do not see them; commit keeps one path's slots.
   */
  private async runPathsOnDevice(tokens: readonly number[], par: readonly number[]): Promise<Logits> {
    const rows = paths(par);
    let V = 0;
    let logits = new Float32Array(0);
    const starts: number[] = [];
    for (const r of rows) {
      starts.push(this.cache.length);
      const out = await this.runBlock(r.map((n) => tokens[n]!), r.map((_, j) => j - 1), r.map((_, j) => j), null);
      if (!V) logits = new Float32Array(tokens.length * (V = out.vocab));
      r.forEach((node, j) => logits.set(out.row(j), node * V));
    }
    this.pendingBatch = { rows, keys: [], values: [], width: 0, starts };
    this.lastBlock = tokens;
    return new Logits(logits, tokens.length, V);
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

  async dispose(): Promise<void> {
    this.inPlace?.dispose();
    this.cache.release();
    await this.standard.release();
    if (this.tree !== this.standard) await this.tree?.release();
  }
}

/** Checks a fast graph's inputs and outputs against config.json, naming what disagrees. */
function checkFastIo(file: string, folder: ModelFolder, s: ort.InferenceSession): void {
  const c = folder.config;
  // The CPU graph (new.N.* rows out) or a GroupQueryAttention fast graph (presents written in place).
  const rows = s.outputNames.includes('new.0.key');
  const need = [...(rows ? ['input_ids', 'position_ids', 'attention_bias'] : ['input_ids', 'seqlens_k', 'total_sequence_length']), ...Array.from({ length: c.numLayers }, (_, l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`]).flat()];
  const missing = [...need.filter((n) => !s.inputNames.includes(n)), ...['logits', rows ? `new.${c.numLayers - 1}.value` : 'present.0.key'].filter((n) => !s.outputNames.includes(n))];
  if (missing.length) {
    throw new HastenError('model-mismatch', `${file} is not a fast graph for this config.json (num_hidden_layers=${c.numLayers}): missing ${missing.slice(0, 4).join(', ')}.`,
      'Rebuild the folder with npm run hasten -- build, or delete onnx/model_fast*.onnx to run the standard graph.');
  }
  checkKvShape(file, folder, s);
}

/** Checks the graph's K/V inputs against config.json's heads and head size. */
function checkKvShape(file: string, folder: ModelFolder, s: ort.InferenceSession): void {
  const c = folder.config;
  const meta = s.inputMetadata.find((m) => m.name === 'past_key_values.0.key');
  if (meta && meta.isTensor) {
    const [, heads, , dim] = meta.shape;
    if ((typeof heads === 'number' && heads !== c.numKvHeads) || (typeof dim === 'number' && dim !== c.headDim)) {
      throw new HastenError('model-mismatch', `${file} has KV tensors [batch, ${heads}, past, ${dim}] but config.json implies [batch, ${c.numKvHeads}, past, ${c.headDim}].`,
        'config.json does not describe this graph: fix num_key_value_heads / head_dim or use the config exported with the model.');
    }
  }
}

/** Checks the graph's inputs and outputs against config.json, naming what disagrees. */
function checkIo(folder: ModelFolder, s: ort.InferenceSession): void {
  const c = folder.config;
  const file = folder.files.standard;
  const need = ['input_ids', 'attention_mask', ...Array.from({ length: c.numLayers }, (_, l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`]).flat()];
  const missing = need.filter((n) => !s.inputNames.includes(n));
  const outs = ['logits', ...Array.from({ length: c.numLayers }, (_, l) => `present.${l}.key`)].filter((n) => !s.outputNames.includes(n));
  if (missing.length || outs.length) {
    throw new HastenError('model-mismatch', `${file} does not have the inputs/outputs config.json implies (num_hidden_layers=${c.numLayers}): missing ${[...missing, ...outs].slice(0, 4).join(', ')}.`,
      'Export the model with past_key_values (Optimum "text-generation-with-past"), or fix num_hidden_layers in config.json.');
  }
  checkKvShape(file, folder, s);
}

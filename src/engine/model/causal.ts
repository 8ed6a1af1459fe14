// One causal LM with its KV cache. `forward` runs a block of new tokens — a chain, or a token tree
// given by parent indices — and `commit` says which of them stay in the cache. Every decoder and
// verifier goes through these two calls, so rollback lives here and nowhere else. A builder-made
// folder runs its fast graph on an in-place cache (inplace.ts; deviceKv.ts on a GPU); other folders
// run a standard graph on the masked-holes cache (standardRunner.ts).
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { HastenError, throwIfAborted } from '../errors';
import { ModelFolder } from './folder';
import { InPlaceKv, outputsGreedy } from './inplace';
import { DeviceKv, Read } from './deviceKv';
import { KvCache } from './kvcache';
import { checkMemory, estimateMemory } from './memory';
import { Logits } from './logits';
import { onnxOpTypes } from './outputNames';
import { contextFor, firstLine, openSession, Provider, resolveProvider, RuntimeOptions } from './session';
import { StandardIo } from './standardIo';
import { isChain, paths, scatterPaths, StandardRunner } from './standardRunner';

export { Logits, paths };
export type { Read };

/** Depth of every node of a tree given by parent indices (-1 = attached to the committed sequence). */
export function depths(parents: readonly number[]): number[] {
  const d: number[] = [];
  parents.forEach((p, i) => {
    if (p >= i) throw new RangeError(`tree parent ${p} of node ${i} must come before it`);
    d.push(p < 0 ? 0 : d[p]! + 1);
  });
  return d;
}

/**
 * Whether a fast tree graph rotates by position_ids in RotaryEmbedding ops of its own (builder 3 on):
 * then WebGPU verifies a tree in one pass. Older tree graphs fuse the rotary into GroupQueryAttention,
 * which on WebGPU takes positions from seqlens_k and ignores position_ids.
 */
function rotatesByPosition(file: string): boolean {
  let v = rotaryByFile.get(file);
  if (v === undefined) rotaryByFile.set(file, (v = onnxOpTypes(file).includes('RotaryEmbedding')));
  return v;
}
const rotaryByFile = new Map<string, boolean>();

export interface ForwardOptions {
  /** Only the last row is needed (a prefill): a fast graph computes only that row. */
  lastOnly?: boolean;
  /**
   * 'argmax': the caller reads only each row's greedy token (`Logits.argmax`); on a device a graph with
   * an `argmax` output then brings back 8 bytes a row instead of the row. Default 'rows'.
   */
  read?: Read;
}

export class CausalModel {
  readonly cache: KvCache;
  /** The standard graph's runner (null for a fast graph). */
  private std: StandardRunner | null;
  private lastBlock: readonly number[] = [];
  /** The committed tokens, in order. */
  private seq: number[] = [];
  /** Forward passes and time spent in them, for statistics. */
  runs = 0;
  runMs = 0;
  /** The sessions' K/V stay on the device (WebGPU): see device.ts. */
  private device = false;
  /** A tree verified path by path on a device's fast graph: the paths, the last one run last. */
  private devicePaths: number[][] | null = null;
  /** The ONNX files of the chain graph and of the tree graph that runs (or would be loaded) with it. */
  chainFile: string;
  private treeFile: string | undefined;

  private constructor(
    readonly folder: ModelFolder,
    /** The chain graph: the fast graph, or the standard one. */
    private chain: ort.InferenceSession,
    private tree: ort.InferenceSession | null,
    /** Where the model runs now: a device that fails mid-decode leaves it on cpu. */
    public provider: Provider,
    /** The builder's fast graph: KV updated in place by onnxruntime (on the host) or kept on the device. */
    private inPlace: InPlaceKv | DeviceKv | null = null,
    private readonly runtime: RuntimeOptions | null = null,
    /** A standard export's I/O differences (positions, use_cache_branch, fp16 K/V). */
    io: StandardIo = new StandardIo(folder.files.standard, chain),
    /** Tokens the cache may hold: hasten.contextTokens, or by provider, within the model's context. */
    readonly contextLength = contextFor(runtime ?? { provider }, folder.config.contextLength, folder.raw),
  ) {
    const c = folder.config;
    this.cache = new KvCache(c.numLayers, c.numKvHeads, c.headDim, io.kv);
    this.std = inPlace ? null : new StandardRunner(this.cache, io, runtime?.readBack);
    this.chainFile = inPlace ? folder.files.fast! : folder.files.standard;
    this.treeFile = inPlace ? folder.files.fastTree : folder.files.tree;
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
      const provider = resolveProvider(runtime.provider).provider;
      const cpuGraph = provider === 'cpu' ? f.fastCpu : undefined;
      // On a device, a build's fp16 graphs (fp16 K/V and activations) unless runtime.deviceFloat asks for fp32.
      const gpuGraph = provider !== 'cpu' && runtime.deviceFloat !== 'fp32' && f.fastGpu && f.fastGpuTree ? f.fastGpu : undefined;
      let file = cpuGraph ?? gpuGraph ?? f.fast!;
      let fast = await openSession(file, runtime);
      if (gpuGraph && !fast.device) {
        // The device did not start (openSession said why) or keeps no K/V on it: the fp32 graph on what did start.
        await fast.session.release();
        file = f.fast!;
        fast = await openSession(file, { ...runtime, provider: fast.provider });
      }
      const half = file === gpuGraph;
      const treeFile = half ? f.fastGpuTree : f.fastTree;
      try {
        checkFastIo(file, folder, fast.session);
        const tree = cpuGraph ? fast.session : withTree && treeFile ? (await openSession(treeFile, fast.provider === 'cpu' ? { ...runtime, provider: 'cpu' } : runtime)).session : null;
        const slots = c.kvSlots ?? c.contextLength;
        const kv = fast.device ? new DeviceKv(c.numLayers, c.numKvHeads, c.headDim, slots, runtime.readBack, half) : new InPlaceKv(c.numLayers, c.numKvHeads, c.headDim, slots);
        if (kv instanceof DeviceKv) {
          const check = await kv.checkLongBlocks(fast.session, c.vocabSize);
          if (check.limited) {
            runtime.onNote?.(`${folder.name} on ${fast.provider}: this device's attention over blocks of 32 tokens or more disagrees with its short-block attention ` +
              `(by up to ${check.maxDiff.toFixed(3)} in logits), so prompts run in blocks of at most ${kv.maxBlock} tokens (exact, slower to prefill).`);
          }
        }
        const m = new CausalModel(folder, fast.session, tree, fast.provider, kv, runtime, undefined, context);
        m.device = fast.device;
        m.chainFile = file;
        m.treeFile = treeFile;
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

  /**
   * True when a greedy read (`read: 'argmax'`) also brings back each row's probability (`Logits.confidence`):
   * the CPU graph of builder 6 on. A device's greedy read brings back the argmaxes alone.
   */
  get greedyConfidence(): boolean {
    return this.inPlace instanceof InPlaceKv && outputsGreedy(this.chain);
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
    this.std?.reset();
    this.lastBlock = [];
    this.seq = [];
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
    if (this.inPlace) this.inPlace.truncate(n);
    else n = this.std!.retain(n);
    this.seq.length = n;
    return n;
  }

  /**
   * Runs `tokens` after the cache. `parents[i]` is the node `tokens[i]` follows (-1: the committed
   * sequence); null means a chain. Returns logits [T, vocab] (with `lastOnly`, a fast graph computes
   * only the last row: what a prefill needs; with `read: 'argmax'`, a device may bring back only each
   * row's argmax); the new slots stay tentative until commit.
   */
  async forward(tokens: readonly number[], parents: readonly number[] | null, signal?: AbortSignal, opts: ForwardOptions = {}): Promise<Logits> {
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
    const o = { lastOnly: opts.lastOnly === true, read: opts.read ?? 'rows' };
    let logits: Logits;
    try {
      logits = await this.run(tokens, par, dep, o);
    } catch (err) {
      if (!this.device || signal?.aborted || err instanceof HastenError || err instanceof RangeError) throw err;
      // The device failed mid-decode: continue on the CPU from the committed tokens, and run this block again.
      await this.fallBackToCpu(err, signal);
      logits = await this.run(tokens, par, dep, o);
    }
    this.runs++;
    this.runMs += performance.now() - t0;
    throwIfAborted(signal);
    return logits;
  }

  /** One forward block on whichever graph fits it (see `forward`). */
  private async run(tokens: readonly number[], par: readonly number[], dep: number[], o: { lastOnly: boolean; read: Read }): Promise<Logits> {
    this.lastBlock = tokens;
    if (!this.inPlace) return this.std!.run(this.chain, this.tree, tokens, par, dep);
    const kv = this.inPlace;
    if (this.length + tokens.length > kv.slots) {
      throw new HastenError('context-overflow', `A block of ${tokens.length} tokens after ${this.length} does not fit the ${kv.slots} KV slots of ${this.folder.files.fast}.`,
        'Lower hasten.tree.maxNodes or the maximum completion length, or rebuild the model with a longer --context.');
    }
    const chain = isChain(par);
    // A tree longer than the device runs at once (DeviceKv.maxBlock) goes path by path too.
    if (!chain && kv instanceof DeviceKv && (!rotatesByPosition(this.treeFile ?? '') || kv.staleCount + tokens.length > kv.maxBlock)) return this.runFastPathsOnDevice(kv, tokens, par, o.read);
    if (!chain && !this.tree) {
      // Opened for chains only (a draft, or a target loaded without tree attention): load the tree graph on first use.
      const file = this.treeFile;
      if (!file || !this.runtime) throw new HastenError('variant-missing', `${this.folder.dir} has no fast tree graph (onnx/model_fast_tree.onnx) to verify a token tree.`, 'Rebuild it with npm run hasten -- build --from CHECKPOINT_DIR --out MODEL_DIR --variants standard,fast,tree, or use a chain strategy (autoregressive, prompt-lookup, draft-model).');
      this.tree = (await openSession(file, { ...this.runtime, provider: this.provider })).session;
    }
    this.devicePaths = null;
    const tree = chain ? null : { parents: par, depths: dep };
    if (kv instanceof InPlaceKv) return kv.run(chain ? this.chain : this.tree!, tokens, tree, o.lastOnly, o.read);
    return kv.run(chain ? this.chain : this.tree!, tokens, tree, o);
  }

  /**
   * A token tree on a device's fast graph whose tree graph fuses the rotary into GroupQueryAttention
   * (built before builder 3): on WebGPU that takes each row's position from seqlens_k and ignores
   * position_ids, so a node off the first branch would be rotated at the wrong position. Each
   * root-to-leaf path runs as a chain instead, over the same slots; the first path runs last, so when
   * it is the one kept its K/V are already in place.
   */
  private async runFastPathsOnDevice(kv: DeviceKv, tokens: readonly number[], par: readonly number[], read: Read): Promise<Logits> {
    const rows = paths(par).reverse();
    const outs: Logits[] = [];
    for (const r of rows) outs.push(await kv.run(this.chain, r.map((n) => tokens[n]!), null, { read }));
    this.devicePaths = rows;
    return scatterPaths(rows, outs, tokens.length);
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
    for (const s of [this.chain, this.tree]) await s?.release().catch(() => undefined);
    this.inPlace?.dispose();
    this.cache.release();
    this.chainFile = fast ? f.fast! : f.standard;
    this.chain = (await openSession(this.chainFile, runtime)).session;
    this.treeFile = fast ? f.fastTree : f.tree;
    this.tree = hadTree && this.treeFile ? (await openSession(this.treeFile, runtime)).session : null;
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
    const kv = this.inPlace;
    if (kv instanceof DeviceKv) {
      const last = this.devicePaths?.[this.devicePaths.length - 1];
      if (!last) kv.commit(nodes);
      else if (nodes.every((n, j) => last[j] === n)) kv.commit(nodes.map((_, j) => j));
      else kv.commitStale(nodes.map((n) => this.lastBlock[n]!));
      this.devicePaths = null;
    } else if (kv) {
      kv.commit(nodes);
    } else {
      this.std!.commit(nodes);
    }
    for (const n of nodes) this.seq.push(this.lastBlock[n]!);
    this.lastBlock = [];
  }

  async dispose(): Promise<void> {
    this.inPlace?.dispose();
    this.cache.release();
    await this.chain.release();
    if (this.tree !== this.chain) await this.tree?.release();
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

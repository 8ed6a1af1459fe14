// The target run one layer segment at a time, over its layered ONNX variant: the embedding, one
// graph per block with that block's own KV cache, the shared final norm + LM head, and CALM's KV
// propagation graph. Early exit (CALM) and self-speculation (LayerSkip) both drive it.
//
// Slots: every token gets one physical slot index, the same in every layer's cache, so one
// validity flag per slot serves all layers and rollback makes holes that the attention bias hides,
// never a copy (the scheme of KvCache). A layer may lag behind the others: layer l holds slots
// 0..len[l]-1 and its next call must start at slot len[l]. Positions (RoPE) count valid slots.
//
// Deferred rows: a token that exited at layer e still needs K/V in layers e..L-1. CALM's state
// propagation computes them from the exited hidden state through each skipped layer's input norm
// and K/V projection. A block computes exactly that for every row it is given, so the exited state
// rides along as an extra row in the skipped layer's next call and its hidden output is thrown
// away: no extra session run and no copy of the cache (test/unit/engine-earlyexit.test.ts checks
// that this equals layered_kv_propagate). `propagateNow` runs the graph eagerly instead.
//
// K/V layout: on the CPU the blocks are layered_block_cpu_N, which read each layer's K/V from a buffer
// of spare slots in place and return only the new rows, written in here (the fused CPU graph's scheme:
// onnxruntime-node copies every output into a fresh buffer, so a block returning its grown cache as its
// present costs a copy of the cache per layer per token; npm run bench: self-speculation 0.55x -> 0.73x).
// A long block (a prompt, > SHORT_BLOCK rows) runs layered_block_N over a copy of the buffer's slots
// instead. Elsewhere, and for builds without them, layered_block_N return their presents.
//
// On a device (WebGPU) each block's present K/V are `gpu-buffer` outputs fed back as its next past
// and released when replaced; hidden states and logits come back to the host (the exit decisions read
// them). Node cannot read a device tensor back, so there the cache is never compacted or appended to
// on the host: holes stay masked until `retain` starts afresh past a quarter of holes, and
// 'propagate-graph' defers its rows like 'propagate' (equal K/V, as the test above checks).
import * as ort from 'onnxruntime-node';
import { ReadBack, release, runOn } from './device';
import fs from 'node:fs';
import path from 'node:path';
import { HastenError } from '../errors';
import { Logits } from './causal';
import { LayeredFiles, ModelFolder } from './folder';
import { GROWTH, keepSlots, writeSlots } from './inplace';
import { openSession, RuntimeOptions } from './session';

const MIN = -3.4028234663852886e38;

/** How the K/V of layers a token skipped get filled. */
export const SKIPPED_KV = ['propagate', 'propagate-graph', 'recompute', 'none'] as const;
export type SkippedKv = (typeof SKIPPED_KV)[number];

/**
 * Longest block the buffer blocks run (decode steps, drafts, verify passes); a longer one (a prompt) runs
 * layered_block_N on a copy of the buffer's slots. Set where the two blocks cost about the same in a one-off
 * timing at 600 tokens of past (the buffer block attends to the block's own rows apart from the buffer's,
 * so it loses on long blocks); with it the layered prefill costs what it did before the buffer blocks
 * (npm run bench, 2026-12-05 01:29 UTC: 52-54 ms against 49-51).
 */
const SHORT_BLOCK = 32;

/** How the blocks hold K/V: a buffer read in place (layered_block_cpu_N) or a cache each block returns grown (layered_block_N). */
export type KvLayout = 'buffer' | 'growing';

/** Hidden states of a block of rows: [rows, width]. */
export class Hidden {
  constructor(readonly data: Float32Array, readonly rows: number, readonly width: number) {}
  row(i: number): Float32Array {
    return this.data.subarray(i * this.width, (i + 1) * this.width);
  }
  tensor(): ort.Tensor {
    return new ort.Tensor('float32', this.data, [1, this.rows, this.width]);
  }
  /** Rows of several blocks, in order, in one new block. */
  static concat(parts: readonly Hidden[]): Hidden {
    const width = parts[0]!.width;
    const rows = parts.reduce((s, p) => s + p.rows, 0);
    const data = new Float32Array(rows * width);
    let at = 0;
    for (const p of parts) {
      data.set(p.data.subarray(0, p.rows * width), at);
      at += p.rows * width;
    }
    return new Hidden(data, rows, width);
  }
}

interface Deferred {
  slot: number;
  hidden: Float32Array; // [width]
  /** 'recompute': the row's output is the real input of the next layer, so it moves on. */
  carry: boolean;
}

export interface LayeredStats {
  blockRuns: number;
  blockMs: number;
  headRuns: number;
  headMs: number;
  propagateRuns: number;
  propagateMs: number;
  compactions: number;
}

/** The layered files of a folder: from its manifest, or found on disk under their standard names. */
export function layeredFiles(folder: ModelFolder): LayeredFiles {
  if (folder.files.layered) return folder.files.layered;
  const L = folder.config.numLayers;
  const at = (f: string) => path.join(folder.dir, 'onnx', f);
  const files: LayeredFiles = {
    embed: at('layered_embed.onnx'), blocks: Array.from({ length: L }, (_, i) => at(`layered_block_${i}.onnx`)),
    head: at('layered_head.onnx'), kvPropagate: at('layered_kv_propagate.onnx'),
  };
  const cpuBlocks = Array.from({ length: L }, (_, i) => at(`layered_block_cpu_${i}.onnx`));
  if (cpuBlocks.every((f) => fs.existsSync(f))) files.cpuBlocks = cpuBlocks;
  const missing = [files.embed, ...files.blocks, files.head, files.kvPropagate].filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new HastenError('variant-missing',
      `${folder.dir} has no layered variant, which early exit and self-speculation need: missing ${missing.map((f) => path.relative(folder.dir, f)).slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} (onnx/layered_embed.onnx, layered_block_0..${L - 1}.onnx, layered_head.onnx, layered_kv_propagate.onnx).`,
      'Build it from the safetensors checkpoint with npm run hasten -- build --from CHECKPOINT_DIR --out MODEL_DIR --variants standard,fast,tree,layered (early exit needs a model trained with early-exit loss, such as LayerSkip), or pick a strategy that runs on the standard graph: autoregressive, prompt-lookup, draft-model or token-tree.');
  }
  return files;
}

export class LayeredModel {
  readonly numLayers: number;
  readonly width: number;
  readonly stats: LayeredStats = { blockRuns: 0, blockMs: 0, headRuns: 0, headMs: 0, propagateRuns: 0, propagateMs: 0, compactions: 0 };
  private keys: ort.Tensor[] = [];
  private values: ort.Tensor[] = [];
  /** Physical slots each layer's cache holds. */
  private len: number[] = [];
  /**
   * keys[l]/values[l] are buffers [1, kv_heads, capacity, head_dim] whose first len[l] slots are the
   * layer's cache (bufferBlocks given: on the CPU). Otherwise each block returns its grown cache as its
   * present, and keys[l] is exactly len[l] slots long.
   */
  private get inPlace(): boolean {
    return this.bufferBlocks !== null;
  }

  /** Which blocks run: 'buffer' (inPlace) or 'growing' (presents). */
  get kvLayout(): KvLayout {
    return this.inPlace ? 'buffer' : 'growing';
  }
  private deferred: Deferred[][] = [];
  /** Per layer, slots hidden in that layer only ('none': skipped layers get no K/V). */
  private ownHoles: (Uint8Array | null)[] = [];
  private flags = new Uint8Array(256);
  private pos = new Int32Array(256);
  /** Slots allocated, holes included. */
  private slots = 0;
  private valid = 0;
  private seq: number[] = [];
  private seqSlots: number[] = [];
  /** The blocks' K/V stay on the device (see device.ts). */
  private device = false;
  /** Counts bytes the device sessions copy to the host (the engine's counter). */
  private readBack: ReadBack | undefined;

  private constructor(
    readonly folder: ModelFolder,
    private readonly embedding: ort.InferenceSession,
    private readonly blocks: ort.InferenceSession[],
    private readonly head: ort.InferenceSession,
    private readonly propagator: ort.InferenceSession,
    /** layered_block_cpu_N: a buffer read in place, only the new rows out. */
    private readonly bufferBlocks: ort.InferenceSession[] | null,
  ) {
    this.numLayers = blocks.length;
    const w = folder.raw.hidden_size;
    if (typeof w !== 'number' || !Number.isInteger(w) || w <= 0) {
      throw new HastenError('model-corrupt', `${path.join(folder.dir, 'config.json')}: "hidden_size" must be a positive integer.`, 'Fix config.json to match the exported graph.');
    }
    this.width = w;
    this.reset();
  }

  /** Opens the embedding, every block, the head and the KV propagation graph. */
  static async open(folder: ModelFolder, runtime: RuntimeOptions): Promise<LayeredModel> {
    const files = layeredFiles(folder);
    const opened: ort.InferenceSession[] = [];
    let device = false;
    let provider = '';
    const open = async (f: string) => {
      const o = await openSession(f, runtime);
      opened.push(o.session);
      device ||= o.device;
      provider ||= o.provider;
      return o.session;
    };
    try {
      const embed = await open(files.embed);
      const blocks: ort.InferenceSession[] = [];
      for (const f of files.blocks) blocks.push(await open(f));
      // On a device the blocks' presents stay there (gpu-buffer); on the CPU the buffer blocks too, where built.
      let bufferBlocks: ort.InferenceSession[] | null = null;
      if (provider === 'cpu' && files.cpuBlocks) {
        bufferBlocks = [];
        for (const f of files.cpuBlocks) bufferBlocks.push(await open(f));
      }
      const head = await open(files.head);
      const prop = await open(files.kvPropagate);
      checkIo(files, blocks, bufferBlocks, head, prop);
      const m = new LayeredModel(folder, embed, blocks, head, prop, bufferBlocks);
      m.device = device;
      m.readBack = runtime.readBack;
      return m;
    } catch (err) {
      await Promise.all(opened.map((s) => s.release()));
      throw err;
    }
  }

  get contextLength(): number {
    return this.folder.config.contextLength;
  }

  /** Tokens the cache holds (valid slots). */
  get length(): number {
    return this.valid;
  }

  /** The committed tokens, in order. */
  get tokens(): readonly number[] {
    return this.seq;
  }

  /** Rows waiting for layer l's next call (deferred K/V of skipped layers). */
  deferredAt(l: number): number {
    return this.deferred[l]!.length;
  }

  reset(): void {
    for (const t of [...this.keys, ...this.values]) release(t);
    const { numKvHeads: kv, headDim: hd } = this.folder.config;
    const empty = () => new ort.Tensor('float32', new Float32Array(0), [1, kv, 0, hd]);
    const buffer = () => new ort.Tensor('float32', new Float32Array(kv * GROWTH * hd), [1, kv, GROWTH, hd]);
    if (this.inPlace) {
      this.keys = this.blocks.map(buffer);
      this.values = this.blocks.map(buffer);
    } else {
      this.keys = this.blocks.map(empty);
      this.values = this.blocks.map(empty);
    }
    this.len = this.blocks.map(() => 0);
    this.deferred = this.blocks.map(() => []);
    this.ownHoles = this.blocks.map(() => null);
    this.flags.fill(0);
    this.slots = 0;
    this.valid = 0;
    this.seq = [];
    this.seqSlots = [];
  }

  /**
   * Keeps the longest common prefix of the committed tokens and `tokens`; the rest become holes. First
   * rolls back what an unfinished request left (`rollBackUncommitted`).
   */
  retain(tokens: readonly number[]): number {
    if (!this.rollBackUncommitted()) {
      this.reset();
      return 0;
    }
    let n = 0;
    while (n < this.seq.length && n < tokens.length && this.seq[n] === tokens[n]) n++;
    if (n < this.seq.length) {
      this.drop(this.seqSlots.slice(n));
      this.seq.length = n;
      this.seqSlots.length = n;
      this.maybeCompact();
    }
    if (this.device && this.holey) {
      this.reset();
      return 0;
    }
    return n;
  }

  /** New slots for `n` tokens after everything allocated so far; valid until dropped. */
  allocate(n: number): number[] {
    if (this.valid + n > this.contextLength) {
      throw new HastenError('context-overflow', `The sequence would reach ${this.valid + n} tokens, beyond the model's context of ${this.contextLength}.`,
        'Shorten the prompt or lower the maximum completion length.');
    }
    this.grow(this.slots + n);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.slots++;
      this.flags[s] = 1;
      this.pos[s] = this.valid++;
      out.push(s);
    }
    return out;
  }

  /** Input embeddings of `tokens`: [T, width]. */
  async embed(tokens: readonly number[]): Promise<Hidden> {
    const out = await runOn(this.embedding, this.device, { input_ids: ids(tokens) }, undefined, this.readBack);
    return new Hidden(out.hidden_states!.data as Float32Array, tokens.length, this.width);
  }

  /**
   * Runs block `l` over rows `h` ([T, width]) at consecutive `slots`, after the layer's deferred
   * rows. Returns the rows' outputs; their K/V join layer l's cache.
   */
  async layer(l: number, slots: readonly number[], h: Hidden): Promise<Hidden> {
    const defer = this.deferred[l]!;
    this.deferred[l] = [];
    const rowSlots = [...defer.map((d) => d.slot), ...slots];
    rowSlots.forEach((s, i) => {
      if (s !== this.len[l]! + i) throw new RangeError(`layer ${l} holds ${this.len[l]} slots; its call must continue at slot ${this.len[l]! + i}, not ${s}`);
    });
    const input = defer.length ? Hidden.concat([...defer.map((d) => new Hidden(d.hidden, 1, this.width)), h]) : h;
    const t0 = performance.now();
    const all = !this.inPlace ? await this.layerGrowing(l, rowSlots, input)
      : rowSlots.length <= SHORT_BLOCK ? await this.layerInPlace(l, rowSlots, input) : await this.layerLong(l, rowSlots, input);
    this.stats.blockRuns++;
    this.stats.blockMs += performance.now() - t0;
    defer.forEach((d, i) => {
      if (d.carry && l + 1 < this.numLayers) this.defer(l + 1, { slot: d.slot, hidden: all.row(i), carry: true });
    });
    return new Hidden(all.data.subarray(defer.length * this.width), slots.length, this.width);
  }

  /** Block l over its KV buffer (a short block: a decode step, drafts, a verify pass): the new rows written into it. */
  private async layerInPlace(l: number, rowSlots: readonly number[], input: Hidden): Promise<Hidden> {
    const out = await runOn(this.bufferBlocks![l]!, false, {
      hidden_states: input.tensor(), attention_bias: this.bias(l, rowSlots, this.keys[l]!.dims[2]!), position_ids: ids(rowSlots.map((s) => this.pos[s]!)),
      past_key: this.keys[l]!, past_value: this.values[l]!,
    }, undefined, this.readBack);
    // The buffer grows after the run: the block attends over fewer than GROWTH spare slots.
    this.reserve(l, rowSlots.length);
    writeRows(this.keys[l]!, this.len[l]!, out.new_key!);
    writeRows(this.values[l]!, this.len[l]!, out.new_value!);
    this.len[l]! += rowSlots.length;
    return new Hidden(out.hidden_states_out!.data as Float32Array, rowSlots.length, this.width);
  }

  /**
   * A long block (a prompt) with buffers: layered_block_N over a copy of the buffer's slots, its
   * present's new rows written into the buffer (the buffer blocks attend to the block's own rows apart
   * from the buffer's, which costs more than one attention over both from about SHORT_BLOCK rows on).
   */
  private async layerLong(l: number, rowSlots: readonly number[], input: Hidden): Promise<Hidden> {
    const n = this.len[l]!;
    const out = await runOn(this.blocks[l]!, false, {
      hidden_states: input.tensor(), attention_mask: this.bias(l, rowSlots, n), position_ids: ids(rowSlots.map((s) => this.pos[s]!)),
      past_key: slotsOf(this.keys[l]!, n), past_value: slotsOf(this.values[l]!, n),
    }, undefined, this.readBack);
    this.reserve(l, rowSlots.length);
    writeRows(this.keys[l]!, n, out.present_key!, n);
    writeRows(this.values[l]!, n, out.present_value!, n);
    this.len[l]! += rowSlots.length;
    return new Hidden(out.hidden_states_out!.data as Float32Array, rowSlots.length, this.width);
  }

  /** Block l returning its grown cache as its present (kept on a device: see device.ts). */
  private async layerGrowing(l: number, rowSlots: readonly number[], input: Hidden): Promise<Hidden> {
    const out = await runOn(this.blocks[l]!, this.device, {
      hidden_states: input.tensor(), attention_mask: this.bias(l, rowSlots), position_ids: ids(rowSlots.map((s) => this.pos[s]!)),
      past_key: this.keys[l]!, past_value: this.values[l]!,
    }, undefined, this.readBack);
    release(this.keys[l]);
    release(this.values[l]);
    this.keys[l] = out.present_key!;
    this.values[l] = out.present_value!;
    this.len[l]! += rowSlots.length;
    return new Hidden(out.hidden_states_out!.data as Float32Array, rowSlots.length, this.width);
  }

  /** Runs layers [from, to) over `h`; `onLayer` sees each layer's output (1-based layer count). */
  async run(from: number, to: number, slots: readonly number[], h: Hidden, onLayer?: (layer: number, h: Hidden) => void): Promise<Hidden> {
    let x = h;
    for (let l = from; l < to; l++) {
      x = await this.layer(l, slots, x);
      onLayer?.(l + 1, x);
    }
    return x;
  }

  /** Logits of the chosen rows of `h` (all rows by default) through the shared final norm and head: [R, vocab]. */
  async logits(h: Hidden, rows?: readonly number[]): Promise<Logits> {
    const x = rows ? Hidden.concat(rows.map((r) => new Hidden(h.row(r), 1, h.width))) : h;
    const t0 = performance.now();
    const out = await runOn(this.head, this.device, { hidden_states: x.tensor() }, undefined, this.readBack);
    this.stats.headRuns++;
    this.stats.headMs += performance.now() - t0;
    const t = out.logits!;
    return new Logits(t.data as Float32Array, x.rows, t.dims[2]!);
  }

  /**
   * A token at `slot` exited after `exitLayer` layers with hidden state `h` ([width]): gives
   * layers exitLayer..L-1 its K/V, the way `mode` says.
   */
  async skip(slot: number, h: Float32Array, exitLayer: number, mode: SkippedKv): Promise<void> {
    if (exitLayer >= this.numLayers) return;
    const hidden = h.slice();
    switch (mode) {
      case 'propagate-graph':
        // On a device the cache cannot be appended to on the host: defer, as 'propagate' does.
        if (!this.device) {
          await this.propagateNow([slot], new Hidden(hidden, 1, this.width), exitLayer);
          return;
        }
        for (let l = exitLayer; l < this.numLayers; l++) this.defer(l, { slot, hidden, carry: false });
        return;
      case 'propagate':
        for (let l = exitLayer; l < this.numLayers; l++) this.defer(l, { slot, hidden, carry: false });
        return;
      case 'recompute':
        this.defer(exitLayer, { slot, hidden, carry: true });
        return;
      case 'none':
        for (let l = exitLayer; l < this.numLayers; l++) {
          this.defer(l, { slot, hidden, carry: false });
          this.ownHole(l, slot);
        }
    }
  }

  /**
   * CALM state propagation through layered_kv_propagate: K/V of layers from..L-1 for rows `h` at
   * `slots`, computed now and appended to those layers' caches (a copy of each cache).
   */
  async propagateNow(slots: readonly number[], h: Hidden, from: number): Promise<void> {
    if (this.device) throw new Error('propagateNow(): a device cache cannot be appended to on the host; defer the rows (skip with \'propagate\')');
    const t0 = performance.now();
    const kv = await this.propagateKv(slots, h);
    for (let l = from; l < this.numLayers; l++) {
      if (this.deferred[l]!.length || this.len[l] !== slots[0]) throw new RangeError(`layer ${l} is not level with slot ${slots[0]}`);
      if (this.inPlace) {
        this.reserve(l, slots.length);
        writeRows(this.keys[l]!, this.len[l]!, kv.keys[l]!);
        writeRows(this.values[l]!, this.len[l]!, kv.values[l]!);
      } else {
        this.keys[l] = append(this.keys[l]!, kv.keys[l]!);
        this.values[l] = append(this.values[l]!, kv.values[l]!);
      }
      this.len[l]! += slots.length;
    }
    this.stats.propagateRuns++;
    this.stats.propagateMs += performance.now() - t0;
  }

  /** layered_kv_propagate itself: every layer's K/V ([1, kv_heads, T, head_dim]) from rows `h`. */
  async propagateKv(slots: readonly number[], h: Hidden): Promise<{ keys: ort.Tensor[]; values: ort.Tensor[] }> {
    const out = await runOn(this.propagator, this.device, { hidden_states: h.tensor(), position_ids: ids(slots.map((s) => this.pos[s]!)) }, undefined, this.readBack);
    return { keys: this.blocks.map((_, l) => out[`key.${l}`]!), values: this.blocks.map((_, l) => out[`value.${l}`]!) };
  }

  /** Layer l's K/V cache ([1, kv_heads, len, head_dim]; a copy of a buffer's first len slots), for tests and measurements. */
  cacheOf(l: number): { key: ort.Tensor; value: ort.Tensor } {
    if (!this.inPlace) return { key: this.keys[l]!, value: this.values[l]! };
    return { key: slotsOf(this.keys[l]!, this.len[l]!), value: slotsOf(this.values[l]!, this.len[l]!) };
  }

  /** Appends committed tokens (with their slots) to the sequence that `retain` compares against. */
  commit(tokens: readonly number[], slots: readonly number[]): void {
    this.seq.push(...tokens);
    this.seqSlots.push(...slots);
  }

  /** Rollback: these slots become holes in every layer. */
  drop(slots: Iterable<number>): void {
    for (const s of slots) {
      if (this.flags[s]) {
        this.flags[s] = 0;
        this.valid--;
      }
    }
  }

  /** Squeezes holes out once they exceed a quarter of the cache (only while every layer is level). */
  maybeCompact(): boolean {
    if (this.device || !this.holey) return false;
    if (this.len.some((n, l) => n !== this.slots || this.deferred[l]!.length)) return false;
    const keep: number[] = [];
    for (let s = 0; s < this.slots; s++) if (this.flags[s]) keep.push(s);
    const { numKvHeads: kvh, headDim: hd } = this.folder.config;
    // A buffer keeps its capacity; a present shrinks to the kept slots.
    const squeeze = (t: ort.Tensor): ort.Tensor => {
      const src = t.data as Float32Array;
      const from = t.dims[2]!;
      const to = this.inPlace ? from : keep.length;
      const out = new Float32Array(kvh * to * hd);
      for (let h = 0; h < kvh; h++) {
        keep.forEach((s, j) => out.set(src.subarray((h * from + s) * hd, (h * from + s + 1) * hd), (h * to + j) * hd));
      }
      return new ort.Tensor('float32', out, [1, kvh, to, hd]);
    };
    this.keys = this.keys.map(squeeze);
    this.values = this.values.map(squeeze);
    this.ownHoles = this.ownHoles.map((m) => (m ? Uint8Array.from(keep, (s) => m[s]!) : null));
    const newIndex = new Int32Array(this.slots).fill(-1);
    keep.forEach((s, j) => (newIndex[s] = j));
    const pos = Int32Array.from(keep, (s) => this.pos[s]!);
    this.pos.fill(0);
    this.pos.set(pos);
    this.flags.fill(0);
    this.flags.fill(1, 0, keep.length);
    this.seqSlots = this.seqSlots.map((s) => newIndex[s]!);
    this.slots = keep.length;
    this.len = this.len.map(() => keep.length);
    this.stats.compactions++;
    return true;
  }

  /**
   * Every slot allocated after the last committed one is rolled back. A request aborted at any await
   * leaves such slots valid and run through some layers only: a draft token through layers 0..E-1, a
   * verify pass stopped between its halves, an early-exit token stopped between layers. Valid, they
   * would be attended to; uneven, the next call of a layer that lags would not continue at its slot
   * ("layer N holds X slots"). Their flags are cleared, and when some layer is not level (its K/V plus
   * its deferred rows do not reach the last slot) every layer is cut back to the committed slots, with
   * the deferred rows of the cut slots (one copy per head, after an abort only). False on a device,
   * whose cache cannot be cut on the host: the caller starts afresh.
   */
  private rollBackUncommitted(): boolean {
    const top = this.seqSlots.length ? this.seqSlots[this.seqSlots.length - 1]! + 1 : 0;
    const tail: number[] = [];
    for (let s = top; s < this.slots; s++) tail.push(s);
    this.drop(tail);
    const level = (l: number) => this.deferred[l]!.every((d, i) => d.slot === this.len[l]! + i) && this.len[l]! + this.deferred[l]!.length === this.slots;
    if (this.blocks.every((_, l) => level(l))) return true;
    if (this.device) return false;
    for (let l = 0; l < this.numLayers; l++) {
      if (this.len[l]! > top) {
        // A buffer's slots past len are masked and overwritten later: no copy.
        if (!this.inPlace) {
          this.keys[l] = slotsOf(this.keys[l]!, top);
          this.values[l] = slotsOf(this.values[l]!, top);
        }
        this.len[l] = top;
      }
      this.deferred[l] = this.deferred[l]!.filter((d) => d.slot < top);
      this.ownHoles[l]?.fill(0, top);
    }
    this.slots = top;
    return true;
  }

  /** Holes exceed a quarter of the cache (and 32 slots). */
  private get holey(): boolean {
    const holes = this.slots - this.valid;
    return holes >= 32 && holes > this.slots / 4;
  }

  async dispose(): Promise<void> {
    for (const t of [...this.keys, ...this.values]) release(t);
    await Promise.all([this.embedding, ...this.blocks, ...(this.bufferBlocks ?? []), this.head, this.propagator].map((s) => s.release()));
  }

  private defer(l: number, d: Deferred): void {
    const list = this.deferred[l]!;
    let i = list.length;
    while (i > 0 && list[i - 1]!.slot > d.slot) i--;
    list.splice(i, 0, d);
  }

  private ownHole(l: number, slot: number): void {
    let m = this.ownHoles[l];
    if (!m || m.length <= slot) {
      const grown = new Uint8Array(Math.max(this.flags.length, slot + 1));
      if (m) grown.set(m);
      this.ownHoles[l] = m = grown;
    }
    m[slot] = 1;
  }

  /** Room in layer l's buffers for `rows` more slots: regrown in steps of GROWTH slots, the cache copied once. */
  private reserve(l: number, rows: number): void {
    const need = this.len[l]! + rows;
    const have = this.keys[l]!.dims[2]!;
    if (need <= have) return;
    const size = Math.ceil(need / GROWTH) * GROWTH;
    this.keys[l] = regrow(this.keys[l]!, this.len[l]!, size);
    this.values[l] = regrow(this.values[l]!, this.len[l]!, size);
  }

  private grow(n: number): void {
    if (n <= this.flags.length) return;
    const size = Math.max(n, this.flags.length * 2);
    const flags = new Uint8Array(size);
    flags.set(this.flags);
    this.flags = flags;
    const pos = new Int32Array(size);
    pos.set(this.pos);
    this.pos = pos;
  }

  /**
   * Additive attention bias [1, 1, T, P+T] for layer l's call over consecutive `rowSlots`: P is the
   * layer's cache, or (P > len[l]) its whole buffer, whose slots from len[l] on are masked.
   */
  private bias(l: number, rowSlots: readonly number[], P = this.len[l]!): ort.Tensor {
    const n = this.len[l]!;
    const T = rowSlots.length;
    const W = P + T;
    const own = this.ownHoles[l];
    const seen = (s: number) => this.flags[s] === 1 && !(own && own[s]);
    const past = new Float32Array(P);
    for (let j = 0; j < n; j++) if (!seen(j)) past[j] = MIN;
    past.fill(MIN, n);
    const bias = new Float32Array(T * W);
    for (let r = 0; r < T; r++) {
      const row = r * W;
      bias.set(past, row);
      for (let c = 0; c < T; c++) if (c > r || (c < r && !seen(rowSlots[c]!))) bias[row + P + c] = MIN;
    }
    return new ort.Tensor('float32', bias, [1, 1, T, W]);
  }
}

function ids(values: readonly number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(values, (x) => BigInt(x)), [1, values.length]);
}

/** [1, H, P, D] + [1, H, T, D] -> [1, H, P+T, D]. */
function append(cache: ort.Tensor, add: ort.Tensor): ort.Tensor {
  const P = cache.dims[2]!;
  const out = regrow(cache, P, P + add.dims[2]!);
  writeRows(out, P, add);
  return out;
}

/** [1, H, C, D] buffer: the rows of `rows` [1, H, S, D] from `from` on, written at slot `at` of every head. */
function writeRows(buffer: ort.Tensor, at: number, rows: ort.Tensor, from = 0): void {
  const [, H, C, D] = buffer.dims as [number, number, number, number];
  writeSlots(buffer.data as Float32Array, C, at, rows.data as Float32Array, rows.dims[2]!, H, D, from);
}

/** The first `n` slots of a [1, H, C, D] buffer in one of `size` slots. */
function regrow(buffer: ort.Tensor, n: number, size: number): ort.Tensor {
  const [, H, C, D] = buffer.dims as [number, number, number, number];
  return new ort.Tensor('float32', keepSlots(buffer.data as Float32Array, C, n, size, H, D), [1, H, size, D]);
}

/** The first `n` slots of a [1, H, C, D] buffer as [1, H, n, D]. */
function slotsOf(buffer: ort.Tensor, n: number): ort.Tensor {
  return regrow(buffer, n, n);
}

function checkIo(files: LayeredFiles, blocks: ort.InferenceSession[], bufferBlocks: ort.InferenceSession[] | null, head: ort.InferenceSession, prop: ort.InferenceSession): void {
  const need = (s: ort.InferenceSession, file: string, ins: string[], outs: string[]) => {
    const missing = [...ins.filter((n) => !s.inputNames.includes(n)), ...outs.filter((n) => !s.outputNames.includes(n))];
    if (missing.length) {
      throw new HastenError('model-mismatch', `${file} is not a layered export: missing ${missing.slice(0, 4).join(', ')}.`,
        'Re-export the layered variant with bash models/build.sh --from export.');
    }
  };
  blocks.forEach((b, i) => need(b, files.blocks[i]!, ['hidden_states', 'attention_mask', 'position_ids', 'past_key', 'past_value'], ['hidden_states_out', 'present_key', 'present_value']));
  bufferBlocks?.forEach((b, i) => need(b, files.cpuBlocks![i]!, ['hidden_states', 'attention_bias', 'position_ids', 'past_key', 'past_value'], ['hidden_states_out', 'new_key', 'new_value']));
  need(head, files.head, ['hidden_states'], ['logits']);
  need(prop, files.kvPropagate, ['hidden_states', 'position_ids'], blocks.flatMap((_, l) => [`key.${l}`, `value.${l}`]));
}

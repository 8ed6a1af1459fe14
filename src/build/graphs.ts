// The graphs of a built model, assembled from the emitter's pieces. I/O names are declared here
// and nowhere else:
//   standard  Optimum names (input_ids, attention_mask, position_ids, past_key_values.N.key/value
//             -> logits, present.N.key/value): what transformers.js and onnx-community loaders read.
//   fast      input_ids, seqlens_k, total_sequence_length, logits_to_keep, past_key_values.N.* -> logits,
//             present.N.*: each past is a buffer of the whole context, fetched back as its present (in
//             place); logits only for the last logits_to_keep positions (a prefill needs one row, not
//             S rows of the vocabulary: at vocab 151936 that is 600 KB a position).
//   tree      fast + position_ids and attention_bias [1, 1, S, total]: a token tree in one pass.
//   standard, fast and tree also output argmax [.., positions] (int64), the greedy token of each logits row;
//             in fast and tree a negative logits_to_keep computes |keep| rows and returns only their argmax.
//   cpu       the fast graph for the CPU, chains and trees alike: input_ids, position_ids,
//             attention_bias [1, 1, S, C + S], logits_to_keep, past_key_values.N.* (each layer's buffer
//             of C slots, read, never written) -> logits, new.N.key/value [1, kvHeads, S, headDim] (the
//             block's rows, which the engine writes into its buffers). Nothing of size C is an output:
//             onnxruntime-node copies every output, a present fetched into the buffer included.
//             Also argmax and confidence [1, kept] (each kept row's greedy token and its softmax
//             probability): a greedy run fetches those instead of the logits rows.
//             Each layer scores the buffer and the block apart, one softmax over both (no copy of the
//             buffer), for decode steps and prefill parts alike.
//   layered   embedding, one graph per block, the final norm + head, and CALM's K/V propagation; each block
//             twice: layered_block_N (past + present, what a device keeps there) and layered_block_cpu_N
//             (a KV buffer read in place, only the new rows out, as the cpu graph).
//   gpu       the fast and tree graphs in fp16 for a GPU (model_fast_fp16.onnx, model_fast_tree_fp16.onnx):
//             the same I/O, but past/present K/V are fp16 and so is the tree's attention_bias; matmuls,
//             attention and the MLP run on fp16 activations, while the residual stream, the RMSNorms and
//             the logits stay fp32. Needs an fp16 or quantised build (the weights the graphs read).
import { Emitter } from './emit';
import { DT, Graph } from './onnx';

export const VARIANTS = ['standard', 'fast', 'tree', 'cpu', 'layered', 'gpu'] as const;
export type Variant = (typeof VARIANTS)[number];

/** File names (under onnx/) of every graph a build writes. */
export const FILES = {
  standard: 'model.onnx',
  fast: 'model_fast.onnx',
  tree: 'model_fast_tree.onnx',
  cpu: 'model_fast_cpu.onnx',
  gpu: 'model_fast_fp16.onnx',
  gpuTree: 'model_fast_tree_fp16.onnx',
  embed: 'layered_embed.onnx',
  block: (l: number) => `layered_block_${l}.onnx`,
  cpuBlock: (l: number) => `layered_block_cpu_${l}.onnx`,
  head: 'layered_head.onnx',
  kvPropagate: 'layered_kv_propagate.onnx',
} as const;

export const WEIGHTS_FILE = 'model.onnx_data';

const kvNames = (l: number) => ({ pastK: `past_key_values.${l}.key`, pastV: `past_key_values.${l}.value`, presK: `present.${l}.key`, presV: `present.${l}.value` });

/** Runs the layer stack with fused residual norms; `attend` emits attention for layer l on normed rows. */
function decoderStack(e: Emitter, g: Graph, h0: string, attend: (l: number, x: string) => string): string {
  let residual = h0;
  let normed = e.rmsNorm(g, h0, e.inputNorm(0));
  let last = '';
  for (let l = 0; l < e.arch.layers; l++) {
    if (l > 0) [normed, residual] = e.skipNorm(g, last, residual, e.inputNorm(l));
    const a = attend(l, normed);
    const [n2, r2] = e.skipNorm(g, a, residual, e.postNorm(l));
    residual = r2;
    last = e.mlp(g, l, n2);
  }
  return e.skipNorm(g, last, residual, 'model.norm.weight')[0];
}

function kvIo(e: Emitter, g: Graph, l: number, past: string, total: string): ReturnType<typeof kvNames> {
  const a = e.arch;
  const n = kvNames(l);
  g.input(n.pastK, DT.FLOAT, ['batch_size', a.kvHeads, past, a.headDim]);
  g.input(n.pastV, DT.FLOAT, ['batch_size', a.kvHeads, past, a.headDim]);
  g.output(n.presK, DT.FLOAT, ['batch_size', a.kvHeads, total, a.headDim]);
  g.output(n.presV, DT.FLOAT, ['batch_size', a.kvHeads, total, a.headDim]);
  return n;
}

/** The Optimum-compatible graph: int64 attention_mask [B, P+S] (0 = hole), causal inside. */
export function standardGraph(e: Emitter, weights: string): Graph {
  const a = e.arch;
  const g = new Graph('hasten-standard', weights);
  const ids = g.input('input_ids', DT.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', DT.INT64, ['batch_size', 'total_sequence_length']);
  const pos = g.input('position_ids', DT.INT64, ['batch_size', 'sequence_length']);
  const kv = Array.from({ length: a.layers }, (_, l) => kvIo(e, g, l, 'past_sequence_length', 'total_sequence_length'));
  // allowed[b, 0, i, j] = mask[b, j] && j <= past + i
  const past = g.op('Slice', [g.op('Shape', [kv[0]!.pastK]), g.ints([2]), g.ints([3])]);
  const seq = g.op('Slice', [g.op('Shape', [ids]), g.ints([1]), g.ints([2])]);
  const total = g.op('Slice', [g.op('Shape', [mask]), g.ints([1]), g.ints([2])]);
  const scalar = (t: string) => g.op('Squeeze', [t, g.ints([0])]);
  const one = g.constant('const_one_scalar', DT.INT64, [], [1]);
  const zero = g.constant('const_zero_scalar', DT.INT64, [], [0]);
  const rows = g.op('Range', [scalar(past), scalar(g.op('Add', [past, seq])), one]);
  const cols = g.op('Range', [zero, scalar(total), one]);
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [cols, g.ints([0])]), g.op('Unsqueeze', [rows, g.ints([1])])]); // [S, total]
  const valid = g.op('Unsqueeze', [g.op('Cast', [mask], { to: DT.BOOL }), g.ints([1, 2])]); // [B, 1, 1, total]
  const allowed = g.op('And', [valid, causal]);
  const h0 = e.embed(g, ids);
  const out = decoderStack(e, g, h0, (l, x) => {
    const n = kv[l]!;
    return e.attentionExplicit(g, l, x, pos, allowed, n.pastK, n.pastV, n.presK, n.presV);
  });
  greedyOutputs(g, e.head(g, out, false), ['batch_size', 'sequence_length']);
  g.output('logits', DT.FLOAT, ['batch_size', 'sequence_length', a.vocab]);
  return g;
}

/**
 * `argmax` [.., positions]: each logits row's greedy token (ties to the lowest id, as sampling.ts's
 * argmax). On a GPU a greedy decoder reads this, 8 bytes a position, instead of the rows (4 x vocab
 * bytes each). onnxruntime-node copies every output of a session with preferred output locations (it
 * refuses a subset, and drops feeds outside `inputNames`, so an input with a default cannot switch
 * them), so the fast graphs leave the rows out themselves when logits_to_keep is negative.
 */
function greedyOutputs(g: Graph, logits: string, dims: (string | number)[]): void {
  g.op('ArgMax', [logits], { axis: -1, keepdims: 0, select_last_index: 0 }, undefined, 'argmax');
  g.output('argmax', DT.INT64, dims);
}

/**
 * `confidence` [1, positions]: the softmax probability of each logits row's largest entry (its argmax's
 * probability), what a greedy draft's confidence stop reads. On the CPU a run that fetches `argmax` and
 * `confidence` but not `logits` skips copying 4 x vocab bytes a row into a fresh JS buffer and the
 * engine's own pass over the row (InPlaceKv, read: 'argmax').
 */
function confidenceOutput(g: Graph, logits: string): void {
  const probs = g.op('Softmax', [logits], { axis: -1 });
  g.op('ReduceMax', [probs, g.ints([-1])], { keepdims: 0 }, undefined, 'confidence');
  g.output('confidence', DT.FLOAT, [1, 'kept_length']);
}

/**
 * The engine's graph: batch 1, KV buffers of the whole context updated in place; `tree` adds positions
 * and a bias; `half`: fp16 K/V and activations (the gpu variant, see the header).
 */
export function fastGraph(e: Emitter, weights: string, tree: boolean, half = false): Graph {
  return e.computing(half, () => fastGraphIn(e, weights, tree, half));
}

function fastGraphIn(e: Emitter, weights: string, tree: boolean, half: boolean): Graph {
  const a = e.arch;
  const kvType = half ? DT.FLOAT16 : DT.FLOAT;
  const g = new Graph(`hasten-fast${tree ? '-tree' : ''}${half ? '-fp16' : ''}`, weights);
  const ids = g.input('input_ids', DT.INT64, [1, 'sequence_length']);
  const seqlensK = g.input('seqlens_k', DT.INT32, [1]);
  const total = g.input('total_sequence_length', DT.INT32, []);
  const positions = tree ? g.input('position_ids', DT.INT64, [1, 'sequence_length']) : undefined;
  const bias = tree ? g.input('attention_bias', kvType, [1, 1, 'sequence_length', 'total_length']) : undefined;
  const keep = g.input('logits_to_keep', DT.INT64, []);
  const kv = Array.from({ length: a.layers }, (_, l) => {
    const n = kvNames(l);
    g.input(n.pastK, kvType, [1, a.kvHeads, 'max_length', a.headDim]);
    g.input(n.pastV, kvType, [1, a.kvHeads, 'max_length', a.headDim]);
    g.output(n.presK, kvType, [1, a.kvHeads, 'max_length', a.headDim]);
    g.output(n.presV, kvType, [1, a.kvHeads, 'max_length', a.headDim]);
    return n;
  });
  const h0 = e.embed(g, ids);
  const out = decoderStack(e, g, h0, (l, x) => {
    const n = kv[l]!;
    return e.attentionGqa(g, l, x, { seqlensK, total, ...(positions ? { positions } : {}), ...(bias ? { bias } : {}) }, n.pastK, n.pastV, n.presK, n.presV);
  });
  // Only the last |keep| positions reach the head: Slice(out, -|keep|, end, axis 1). A negative keep
  // asks for their argmaxes only: `logits` then holds no rows (see greedyOutputs).
  const keep1 = g.op('Unsqueeze', [keep, g.ints([0])]);
  const from = g.op('Neg', [g.op('Abs', [keep1])]);
  const last = g.op('Slice', [out, from, g.ints([2 ** 62]), g.ints([1])]);
  const kept = e.head(g, last, true, 'logits_kept');
  greedyOutputs(g, kept, [1, 'kept_length']);
  const rows = g.op('Slice', [g.op('Shape', [kept]), g.ints([1]), g.ints([2])]);
  const start = g.op('Where', [g.op('Less', [keep1, g.ints([0])]), rows, g.ints([0])]);
  g.op('Slice', [kept, start, rows, g.ints([1])], {}, undefined, 'logits');
  g.output('logits', DT.FLOAT, [1, 'read_length', a.vocab]);
  return g;
}

/** The CPU's fast graph (see the header): attention reads the KV buffers in place and returns only the block's rows. */
export function cpuGraph(e: Emitter, weights: string): Graph {
  const a = e.arch;
  const g = new Graph('hasten-fast-cpu', weights);
  const ids = g.input('input_ids', DT.INT64, [1, 'sequence_length']);
  const positions = g.input('position_ids', DT.INT64, [1, 'sequence_length']);
  const bias = g.input('attention_bias', DT.FLOAT, [1, 1, 'sequence_length', 'total_length']);
  const keep = g.input('logits_to_keep', DT.INT64, []);
  const kv = Array.from({ length: a.layers }, (_, l) => {
    const n = kvNames(l);
    g.input(n.pastK, DT.FLOAT, [1, a.kvHeads, 'max_length', a.headDim]);
    g.input(n.pastV, DT.FLOAT, [1, a.kvHeads, 'max_length', a.headDim]);
    return { ...n, newK: `new.${l}.key`, newV: `new.${l}.value` };
  });
  const slots = g.op('Slice', [g.op('Shape', [kv[0]!.pastK]), g.ints([2]), g.ints([3])]);
  const split = g.op('Concat', [slots, g.op('Slice', [g.op('Shape', [ids]), g.ints([1]), g.ints([2])])], { axis: 0 }); // [C, S]
  // The bias once per query head of a group: rows (head in group, position), as attention groups its queries.
  const tiled = g.op('Tile', [bias, g.ints([1, 1, a.heads / a.kvHeads, 1])]);
  const h0 = e.embed(g, ids);
  const out = decoderStack(e, g, h0, (l, x) => {
    const n = kv[l]!;
    return e.attentionOverBuffer(g, l, x, { positions, bias: tiled, split }, n.pastK, n.pastV, n.newK, n.newV);
  });
  const from = g.op('Neg', [g.op('Unsqueeze', [keep, g.ints([0])])]);
  const last = g.op('Slice', [out, from, g.ints([2 ** 62]), g.ints([1])]);
  const logits = e.head(g, last, true);
  g.output('logits', DT.FLOAT, [1, 'kept_length', a.vocab]);
  greedyOutputs(g, logits, [1, 'kept_length']);
  confidenceOutput(g, logits);
  for (const n of kv) {
    g.output(n.newK, DT.FLOAT, [1, a.kvHeads, 'sequence_length', a.headDim]);
    g.output(n.newV, DT.FLOAT, [1, a.kvHeads, 'sequence_length', a.headDim]);
  }
  return g;
}

/** The layered variant: what src/engine/model/layered.ts loads (same I/O as the torch export had). */
export function layeredGraphs(e: Emitter, weights: string): Map<string, Graph> {
  const a = e.arch;
  const out = new Map<string, Graph>();
  const hs = ['batch_size', 'sequence_length', a.hidden];

  const embed = new Graph('hasten-layered-embed', weights);
  const h = e.embed(embed, embed.input('input_ids', DT.INT64, ['batch_size', 'sequence_length']));
  embed.op('Identity', [h], {}, undefined, 'hidden_states');
  embed.output('hidden_states', DT.FLOAT, hs);
  out.set(FILES.embed, embed);

  for (let l = 0; l < a.layers; l++) {
    const g = new Graph(`hasten-layered-block-${l}`, weights);
    const x = g.input('hidden_states', DT.FLOAT, hs);
    const bias = g.input('attention_mask', DT.FLOAT, ['batch_size', 1, 'sequence_length', 'total_sequence_length']);
    const pos = g.input('position_ids', DT.INT64, ['batch_size', 'sequence_length']);
    g.input('past_key', DT.FLOAT, ['batch_size', a.kvHeads, 'past_sequence_length', a.headDim]);
    g.input('past_value', DT.FLOAT, ['batch_size', a.kvHeads, 'past_sequence_length', a.headDim]);
    const n = e.rmsNorm(g, x, e.inputNorm(l));
    const att = e.attentionExplicit(g, l, n, pos, bias, 'past_key', 'past_value', 'present_key', 'present_value');
    const [n2, r] = e.skipNorm(g, att, x, e.postNorm(l));
    g.op('Add', [e.mlp(g, l, n2), r], {}, undefined, 'hidden_states_out');
    g.output('hidden_states_out', DT.FLOAT, hs);
    g.output('present_key', DT.FLOAT, ['batch_size', a.kvHeads, 'total_sequence_length', a.headDim]);
    g.output('present_value', DT.FLOAT, ['batch_size', a.kvHeads, 'total_sequence_length', a.headDim]);
    out.set(FILES.block(l), g);
  }

  for (let l = 0; l < a.layers; l++) out.set(FILES.cpuBlock(l), layeredCpuBlock(e, weights, l));

  const head = new Graph('hasten-layered-head', weights);
  const hx = head.input('hidden_states', DT.FLOAT, hs);
  e.head(head, e.rmsNorm(head, hx, 'model.norm.weight'), false);
  head.output('logits', DT.FLOAT, ['batch_size', 'sequence_length', a.vocab]);
  out.set(FILES.head, head);

  const prop = new Graph('hasten-layered-kv-propagate', weights);
  const px = prop.input('hidden_states', DT.FLOAT, hs);
  const pp = prop.input('position_ids', DT.INT64, ['batch_size', 'sequence_length']);
  for (let l = 0; l < a.layers; l++) {
    e.keyValue(prop, l, px, pp, `key.${l}`, `value.${l}`);
    prop.output(`key.${l}`, DT.FLOAT, ['batch_size', a.kvHeads, 'sequence_length', a.headDim]);
    prop.output(`value.${l}`, DT.FLOAT, ['batch_size', a.kvHeads, 'sequence_length', a.headDim]);
  }
  out.set(FILES.kvPropagate, prop);
  return out;
}

/**
 * Block l for the CPU, over a KV buffer read in place (the cpu graph's attention, one layer of it):
 * hidden_states [1, T, W], attention_bias [1, 1, T, C + T] (the engine masks the buffer's unused slots and
 * its holes, and gives the rows their causal structure), position_ids [1, T], past_key/past_value
 * [1, kvHeads, C, headDim] (the layer's buffer of C slots, not written) -> hidden_states_out [1, T, W] and
 * new_key/new_value [1, kvHeads, T, headDim], the rows that the engine writes into its buffer. The
 * concatenating block returns the whole grown cache, which onnxruntime-node copies into a fresh buffer
 * every call.
 */
function layeredCpuBlock(e: Emitter, weights: string, l: number): Graph {
  const a = e.arch;
  const g = new Graph(`hasten-layered-block-cpu-${l}`, weights);
  const hs = [1, 'sequence_length', a.hidden];
  const x = g.input('hidden_states', DT.FLOAT, hs);
  const bias = g.input('attention_bias', DT.FLOAT, [1, 1, 'sequence_length', 'total_length']);
  const positions = g.input('position_ids', DT.INT64, [1, 'sequence_length']);
  const pastK = g.input('past_key', DT.FLOAT, [1, a.kvHeads, 'max_length', a.headDim]);
  const pastV = g.input('past_value', DT.FLOAT, [1, a.kvHeads, 'max_length', a.headDim]);
  const slots = g.op('Slice', [g.op('Shape', [pastK]), g.ints([2]), g.ints([3])]);
  const split = g.op('Concat', [slots, g.op('Slice', [g.op('Shape', [x]), g.ints([1]), g.ints([2])])], { axis: 0 });
  const tiled = g.op('Tile', [bias, g.ints([1, 1, a.heads / a.kvHeads, 1])]);
  const n = e.rmsNorm(g, x, e.inputNorm(l));
  const att = e.attentionOverBuffer(g, l, n, { positions, bias: tiled, split }, pastK, pastV, 'new_key', 'new_value');
  const [n2, r] = e.skipNorm(g, att, x, e.postNorm(l));
  g.op('Add', [e.mlp(g, l, n2), r], {}, undefined, 'hidden_states_out');
  g.output('hidden_states_out', DT.FLOAT, hs);
  g.output('new_key', DT.FLOAT, [1, a.kvHeads, 'sequence_length', a.headDim]);
  g.output('new_value', DT.FLOAT, [1, a.kvHeads, 'sequence_length', a.headDim]);
  return g;
}

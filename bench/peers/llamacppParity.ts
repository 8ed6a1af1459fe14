// Logits parity between llama.cpp (the GGUF of a model) and onnxruntime (its ONNX export) on the
// same token ids. node-llama-cpp exposes no raw logits, only next-token probabilities per position
// (controlledEvaluate), so the comparison is between probability vectors: ORT's softmax against them.
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ensureGguf, type GgufQuant } from '../../models/toolchain/gguf.mjs';
import { contextOptions, getCpuLlama, loadNodeLlamaCpp } from './llamacpp';

export interface ParityReport {
  model: string;
  positions: number;
  /** max over positions and vocabulary of |p_llama.cpp - p_ort|. */
  maxProbDiff: number;
  /** max |log p_llama.cpp - log p_ort| over entries with p_ort > 1e-6: the logit error, normalisation included. */
  maxLogProbDiff: number;
  /** Positions whose most probable token is the same in both. */
  argmaxAgree: number;
}

/** ORT's next-token probabilities for every position of `ids` in one pass from an empty cache. */
export async function ortProbabilities(modelDir: string, ids: readonly number[], threads: number): Promise<Float32Array[] /* [T][vocab] */> {
  const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as Record<string, number>;
  const session = await ort.InferenceSession.create(path.join(modelDir, 'onnx', 'model.onnx'), { intraOpNumThreads: threads, interOpNumThreads: 1 });
  try {
    const T = ids.length, V = cfg.vocab_size!;
    const i64 = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
    const feeds: Record<string, ort.Tensor> = { input_ids: i64([...ids]), attention_mask: i64(ids.map(() => 1)), position_ids: i64(ids.map((_, i) => i)) };
    for (let l = 0; l < cfg.num_hidden_layers!; l++) {
      for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, cfg.num_key_value_heads!, 0, cfg.head_dim!]);
    }
    const logits = (await session.run(feeds)).logits!.data as Float32Array; // [1, T, V]
    return Array.from({ length: T }, (_, t) => softmax(logits.subarray(t * V, (t + 1) * V)));
  } finally {
    await session.release();
  }
}

function softmax(row: Float32Array /* [vocab] */): Float32Array {
  let max = -Infinity;
  for (const x of row) if (x > max) max = x;
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  return row.map((x) => Math.exp(x - max) / sum);
}

/** llama.cpp's next-token probabilities for every position of `ids` (the checkpoint's GGUF at `quant`, F32 KV, one batch). */
export async function llamaCppProbabilities(modelDir: string, ids: readonly number[], threads: number, quant: GgufQuant = 'F32'): Promise<{ ok: true; probs: Map<number, number>[] } | { ok: false; message: string }> {
  const loaded = await loadNodeLlamaCpp();
  if (!loaded.ok) return loaded;
  const llama = await getCpuLlama(loaded.nlc, threads);
  try {
    const model = await llama.loadModel({ modelPath: ensureGguf(modelDir, undefined, quant).path, gpuLayers: 0 });
    const ctx = await model.createContext(contextOptions(threads, Math.max(256, ids.length)));
    const out = await ctx.getSequence().controlledEvaluate(ids.map((t) => [t, { generateNext: { probabilities: true } }]));
    const probs = out.map((o, i) => {
      if (!o?.next.probabilities) throw new Error(`llama.cpp returned no probabilities at position ${i}`);
      return o.next.probabilities;
    });
    await ctx.dispose();
    await model.dispose();
    return { ok: true, probs };
  } finally {
    await llama.dispose();
  }
}

/**
 * Compares llama.cpp with onnxruntime on `ids`: the GGUF (at `quant`) of the checkpoint in
 * `modelDir` against the standard graph of `ortDir` (default the same folder: a bundled model).
 */
export async function llamaCppParity(modelDir: string, ids: readonly number[], threads = 1, o: { ortDir?: string; quant?: GgufQuant } = {}): Promise<{ ok: true; report: ParityReport } | { ok: false; message: string }> {
  const ll = await llamaCppProbabilities(modelDir, ids, threads, o.quant ?? 'F32');
  if (!ll.ok) return ll;
  const ref = await ortProbabilities(o.ortDir ?? modelDir, ids, threads);
  let maxProbDiff = 0, maxLogProbDiff = 0, argmaxAgree = 0;
  ref.forEach((p, t) => {
    const q = ll.probs[t]!;
    let best = 0;
    for (let v = 0; v < p.length; v++) {
      const qv = q.get(v) ?? 0;
      maxProbDiff = Math.max(maxProbDiff, Math.abs(qv - p[v]!));
      if (p[v]! > 1e-6) maxLogProbDiff = Math.max(maxLogProbDiff, Math.abs(Math.log(qv) - Math.log(p[v]!)));
      if (p[v]! > p[best]!) best = v;
    }
    // node-llama-cpp orders the map by probability, most probable first.
    if (q.keys().next().value === best) argmaxAgree++;
  });
  return { ok: true, report: { model: path.basename(path.resolve(modelDir)), positions: ids.length, maxProbDiff, maxLogProbDiff, argmaxAgree } };
}

// llama.cpp (through node-llama-cpp 3.21.1, installed on demand in bench/peers/node_modules) as a
// peer on OUR weights: the bundled ONNX models converted to F32 GGUF (models/toolchain/gguf.mjs), fed
// the exact prompt ids our engine builds. Three systems: plain greedy decoding, input lookup (its
// prompt-lookup analogue) and a draft model. Its speculation is reported as shipped, defects included
// (see bench/peers/README.md).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureGguf } from '../../models/toolchain/gguf.mjs';
import type { PeerOpenResult, PeerRun, PeerSystem } from './types';

export const PEERS_DIR = __dirname;
export const NODE_LLAMA_CPP_VERSION = '3.21.1';
export const LLAMA_CPP_INSTALL = 'bash bench/peers/install.sh';

// The slice of node-llama-cpp's API used here, typed structurally: the package is optional, so the
// project must typecheck without it.
export interface NlcSequence {
  evaluate(tokens: number[], o?: { temperature?: number; yieldEogToken?: boolean }): AsyncGenerator<number, void, void | number | number[]>;
  controlledEvaluate(input: (number | [number, { generateNext?: { probabilities?: boolean } }])[]): Promise<Array<undefined | { next: { probabilities?: Map<number, number> } }>>;
  clearHistory(): Promise<void>;
  readonly tokenPredictions: { used: number; unused: number; validated: number; refuted: number };
  dispose(): void;
}
export interface NlcContext {
  getSequence(o?: { tokenPredictor?: unknown }): NlcSequence;
  dispose(): Promise<void>;
}
export interface NlcModel {
  createContext(o: Record<string, unknown>): Promise<NlcContext>;
  dispose(): Promise<void>;
}
export interface NlcLlama {
  loadModel(o: { modelPath: string; gpuLayers: number }): Promise<NlcModel>;
  dispose(): Promise<void>;
}
/** A token predictor; input lookup reads the prompt through updateInputTokens. */
export interface TokenPredictor {
  updateInputTokens?(tokens: number[]): void;
}
export interface NodeLlamaCpp {
  getLlama(o: Record<string, unknown>): Promise<NlcLlama>;
  InputLookupTokenPredictor: new (o: { patternLength: { min: number; max: number }; predictionLength: { min: number; max: number } }) => unknown;
  DraftSequenceTokenPredictor: new (draft: NlcSequence, o: { minTokens: number; maxTokens: number; minConfidence: number }) => unknown;
}

/** Input lookup mirrors our prompt-lookup drafter's defaults (n-grams 1..4, up to 8 tokens). */
export const INPUT_LOOKUP = { patternLength: { min: 1, max: 4 }, predictionLength: { min: 1, max: 8 } } as const;
/**
 * A 4-token draft chain before each verification, like our draft-model's initial length, with no
 * confidence cut-off. minTokens = maxTokens makes the target wait for the draft: with the library's
 * default minTokens 0 the target never waited and nothing was ever drafted on our prompts.
 */
export const DRAFT = { minTokens: 4, maxTokens: 4, minConfidence: 0 } as const;

/** node-llama-cpp from bench/peers/node_modules, or the reason it is not there. */
export async function loadNodeLlamaCpp(): Promise<{ ok: true; nlc: NodeLlamaCpp; version: string } | { ok: false; message: string }> {
  const missing = (why: string) => ({ ok: false as const, message: `llama.cpp peer unavailable: ${why}. Install it with: ${LLAMA_CPP_INSTALL}` });
  let entry: string;
  try {
    entry = createRequire(path.join(PEERS_DIR, 'package.json')).resolve('node-llama-cpp');
  } catch {
    return missing('node-llama-cpp is not installed in bench/peers/node_modules');
  }
  const pkg = path.join(PEERS_DIR, 'node_modules', 'node-llama-cpp', 'package.json');
  const version = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
  if (version !== NODE_LLAMA_CPP_VERSION) return missing(`bench/peers has node-llama-cpp ${version}, the benchmark pins ${NODE_LLAMA_CPP_VERSION}`);
  try {
    return { ok: true, nlc: (await import(pathToFileURL(entry).href)) as NodeLlamaCpp, version };
  } catch (err) {
    return missing(`node-llama-cpp did not load (${firstLine(err)})`);
  }
}

/** The CPU-only llama.cpp runtime with `threads` threads; nothing is downloaded or built. */
export function getCpuLlama(nlc: NodeLlamaCpp, threads: number): Promise<NlcLlama> {
  return nlc.getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, maxThreads: threads, logLevel: 'error', progressLogs: false });
}

/** Context settings every system uses: explicit threads, one batch holds any prompt, no flash attention, F32 KV. */
export function contextOptions(threads: number, contextSize: number) {
  return {
    contextSize, threads, batchSize: contextSize, sequences: 1, flashAttention: false,
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
  };
}

export interface LlamaCppOptions {
  /** Model folders (HF layout with onnx/model.onnx); converted to GGUF in models/.work/gguf on first use. */
  targetDir: string;
  draftDir?: string;
  threads: number;
  contextSize: number;
  /** DraftSequenceTokenPredictor options; defaults to DRAFT. */
  draft?: { minTokens: number; maxTokens: number; minConfidence: number };
  /** InputLookupTokenPredictor options; defaults to INPUT_LOOKUP. */
  inputLookup?: { patternLength: { min: number; max: number }; predictionLength: { min: number; max: number } };
  /** Weights of the target's (and draft's) GGUF (default F32); Q8_0 / Q4_0 hold the same numbers as our int8 / int4 graphs. */
  quant?: 'F32' | 'Q8_0' | 'Q4_0';
  /** Only the plain greedy system (for precision comparisons); default all three. */
  plainOnly?: boolean;
}

/** Opens llama.cpp/plain, llama.cpp/input-lookup and (with draftDir) llama.cpp/draft-model; never throws for a missing install. */
export async function openLlamaCpp(o: LlamaCppOptions): Promise<PeerOpenResult> {
  const loaded = await loadNodeLlamaCpp();
  if (!loaded.ok) return loaded;
  const { nlc, version } = loaded;
  let target: string, draft: string | null;
  try {
    target = ensureGguf(o.targetDir, undefined, o.quant ?? 'F32').path;
    draft = o.draftDir && !o.plainOnly ? ensureGguf(o.draftDir, undefined, o.quant ?? 'F32').path : null;
  } catch (err) {
    return { ok: false, message: `llama.cpp peer: converting ${o.targetDir}${o.draftDir ? ` / ${o.draftDir}` : ''} to GGUF failed (${firstLine(err)}). Try: node models/toolchain/gguf.mjs --cache <modelDir>` };
  }
  const llama = await getCpuLlama(nlc, o.threads);
  const owned: { dispose(): Promise<void> }[] = [];
  try {
    const model = await llama.loadModel({ modelPath: target, gpuLayers: 0 });
    owned.push(model);
    const draftModel = draft ? await llama.loadModel({ modelPath: draft, gpuLayers: 0 }) : null;
    if (draftModel) owned.push(draftModel);
    const ctxOptions = contextOptions(o.threads, o.contextSize);
    const lookup = o.inputLookup ?? INPUT_LOOKUP, drafting = o.draft ?? DRAFT;
    const base = {
      version: `node-llama-cpp ${version}`, weights: `${o.quant ?? 'F32'} GGUF converted from the checkpoint (model.safetensors)`, target: path.basename(target),
      threads: o.threads, batchSize: ctxOptions.batchSize, contextSize: o.contextSize, kvCache: 'F32', flashAttention: false, temperature: 0,
    };
    const systems: PeerSystem[] = [];
    // Predicted tokens are evaluated past the last generated one: without room for them, a prompt that
    // fills the context makes node-llama-cpp shift it (erase its beginning) and the output changes.
    const headroom = Math.max(lookup.predictionLength.max, drafting.maxTokens);
    const open = async (id: string, settings: Record<string, string | number | boolean>, predictor?: (draftSeq: NlcSequence | null) => unknown, withDraft = false) => {
      const size = predictor ? o.contextSize + headroom : o.contextSize;
      const options = contextOptions(o.threads, size);
      if (predictor) settings = { ...settings, contextSize: size, contextHeadroomForPredictions: headroom };
      const ctx = await model.createContext(options);
      const draftCtx = withDraft && draftModel ? await draftModel.createContext(options) : null;
      const draftSeq = draftCtx ? draftCtx.getSequence() : null;
      const tokenPredictor = predictor ? (predictor(draftSeq) as TokenPredictor) : null;
      const seq = ctx.getSequence(tokenPredictor ? { tokenPredictor } : {});
      systems.push(new LlamaCppSystem(id, { ...base, ...settings }, seq, draftSeq, tokenPredictor, [ctx, ...(draftCtx ? [draftCtx] : [])]));
    };
    const suffix = o.quant && o.quant !== 'F32' ? ` ${o.quant}` : '';
    await open(`llama.cpp/plain${suffix}`, { decoding: 'greedy evaluate()' });
    if (!o.plainOnly) await open('llama.cpp/input-lookup', {
      decoding: 'InputLookupTokenPredictor', patternLengthMin: lookup.patternLength.min, patternLengthMax: lookup.patternLength.max,
      predictionLengthMin: lookup.predictionLength.min, predictionLengthMax: lookup.predictionLength.max,
    }, () => new nlc.InputLookupTokenPredictor({ patternLength: { ...lookup.patternLength }, predictionLength: { ...lookup.predictionLength } }));
    if (draftModel && draft) {
      await open('llama.cpp/draft-model', {
        decoding: 'DraftSequenceTokenPredictor', draft: path.basename(draft), draftMinTokens: drafting.minTokens, draftMaxTokens: drafting.maxTokens, draftMinConfidence: drafting.minConfidence,
      }, (draftSeq) => new nlc.DraftSequenceTokenPredictor(draftSeq!, { ...drafting }), true);
    }
    // The runtime and the models live as long as the last system; the final dispose() frees them.
    let open_ = systems.length;
    for (const s of systems) (s as LlamaCppSystem).onDisposed = async () => {
      if (--open_ > 0) return;
      for (const x of owned.reverse()) await x.dispose();
      await llama.dispose();
    };
    return { ok: true, systems };
  } catch (err) {
    for (const x of owned.reverse()) await x.dispose().catch(() => undefined);
    await llama.dispose().catch(() => undefined);
    return { ok: false, message: `llama.cpp could not load ${target} (${firstLine(err)}). Rebuild it with: node models/toolchain/gguf.mjs --cache ${o.targetDir}` };
  }
}

class LlamaCppSystem implements PeerSystem {
  readonly description: string;
  onDisposed: () => Promise<void> = async () => undefined;
  private disposed = false;

  constructor(
    readonly id: string,
    readonly settings: Readonly<Record<string, string | number | boolean>>,
    private readonly seq: NlcSequence,
    private readonly draftSeq: NlcSequence | null,
    private readonly predictor: TokenPredictor | null,
    private readonly contexts: NlcContext[],
  ) {
    const s = settings;
    const extra = s.decoding === 'greedy evaluate()' ? '' : `, ${s.decoding}${s.draft ? ` (${s.draft}, ${s.draftMinTokens}-${s.draftMaxTokens} tokens, minConfidence ${s.draftMinConfidence})` : ` (pattern ${s.patternLengthMin}-${s.patternLengthMax}, prediction ${s.predictionLengthMin}-${s.predictionLengthMax})`}`;
    this.description = `llama.cpp via ${s.version}, ${s.target} (${s.weights}), CPU, ${s.threads} threads, batch ${s.batchSize}, context ${s.contextSize}, F32 KV cache, flash attention off, greedy${extra}`;
  }

  /** Greedy continuation from a cleared sequence (every prompt pays its own prefill); a stop id ends it and is not returned. */
  async generate(prompt: readonly number[], maxNewTokens: number, stopIds: readonly number[]): Promise<PeerRun> {
    const t0 = performance.now();
    try {
      // Both the target's and the draft's KV are emptied, so no prompt reuses the previous one's prefix.
      await this.seq.clearHistory();
      if (this.draftSeq) await this.draftSeq.clearHistory();
      // What node-llama-cpp's own LlamaCompletion does before generating: input lookup searches these tokens.
      this.predictor?.updateInputTokens?.([...prompt]);
      const before = { ...this.seq.tokenPredictions };
      const output: number[] = [];
      let tokens = 0, first = 0, last = 0;
      if (maxNewTokens > 0) {
        for await (const token of this.seq.evaluate([...prompt], { temperature: 0, yieldEogToken: true })) {
          last = performance.now();
          if (++tokens === 1) first = last;
          if (stopIds.includes(token)) break;
          output.push(token);
          if (output.length >= maxNewTokens) break;
        }
      }
      const run: PeerRun = { output, tokens, prefillMs: (tokens ? first : performance.now()) - t0, decodeMs: tokens ? last - first : 0 };
      if (this.predictor) {
        const p = this.seq.tokenPredictions;
        const used = p.used - before.used, validated = p.validated - before.validated, refuted = p.refuted - before.refuted;
        // Each target evaluation yields one token of its own plus the predictions it used.
        Object.assign(run, { drafted: validated + refuted, accepted: validated, steps: Math.max(0, tokens - used) });
      }
      return run;
    } catch (err) {
      return { output: [], tokens: 0, prefillMs: 0, decodeMs: 0, error: firstLine(err) };
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.seq.dispose();
    this.draftSeq?.dispose();
    for (const c of this.contexts) await c.dispose();
    await this.onDisposed();
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

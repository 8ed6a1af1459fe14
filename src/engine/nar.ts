// The non-autoregressive strategies: lookahead (Jacobi) decoding on the target, and Mask-Predict
// with the CMLM. Their settings, validation, the CMLM found beside the target and loaded on first
// use, and the CMLM's own prompt. Engine delegates to NarStrategies and knows nothing more.
import fs from 'node:fs';
import path from 'node:path';
import { DecodeChunk, DecodeRequest } from './decoders/common';
import { lookahead } from './decoders/lookahead';
import { maskPredict } from './decoders/maskPredict';
import { HastenError } from './errors';
import { CausalModel } from './model/causal';
import { CmlmModel } from './model/cmlm';
import { checkSameTokenizer, readManifest } from './model/folder';
import { RuntimeOptions } from './model/session';
import { buildPrompt } from './prompt';
import { CompletionTrace } from './trace';

export interface NarSettings {
  /** Mask-Predict: refinement passes T, iteration 0 included. */
  maskPredictIterations: number;
  /** Mask-Predict: candidate span lengths l, decoded side by side in one batch. */
  lengthCandidates: number;
  /** Mask-Predict: force the span length (tokens); 0 lets the length head predict it. */
  maskPredictLength: number;
  /** Mask-Predict: prompt tokens (prefix + suffix) the CMLM sees; every pass re-reads them, so this sets the cost. */
  maskPredictContext: number;
  /** Lookahead: W, guessed future positions per Jacobi iteration (and n-grams verified per step). */
  lookaheadWindow: number;
  /** Lookahead: N, the n-gram size (the window keeps N−1 levels). */
  lookaheadNgram: number;
}

/**
 * Chosen by measurement on this 2-core CPU: lookahead wants a small window (a 13-token block costs ~1.4 AR
 * steps, a 31-token one ~2.2), and a 64-token CMLM context keeps Mask-Predict at T = 4 near a third of
 * autoregressive FIM latency (README, "Non-autoregressive decoding").
 */
export const DEFAULT_NAR: NarSettings = { maskPredictIterations: 4, lengthCandidates: 3, maskPredictLength: 0, maskPredictContext: 64, lookaheadWindow: 2, lookaheadNgram: 4 };

export const NAR_STRATEGIES = ['lookahead', 'mask-predict'] as const;
export type NarStrategy = (typeof NAR_STRATEGIES)[number];
export const isNarStrategy = (s: string): s is NarStrategy => (NAR_STRATEGIES as readonly string[]).includes(s);

const bad = (message: string, fix: string) => new HastenError('bad-request', message, fix);

function positiveInt(v: number, name: string, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw bad(`${name} ${v} is outside the valid range 1..${max}.`, `Set ${name} to an integer from 1 to ${max}.`);
  return v;
}

/** The manifest's default CMLM (defaults.cmlm) beside a bundled target; null when there is none. */
export function defaultCmlm(targetDir: string): string | null {
  try {
    const name = readManifest(path.join(path.dirname(targetDir), 'manifest.json')).defaults?.cmlm;
    const dir = name ? path.join(path.dirname(targetDir), name) : null;
    return dir && fs.existsSync(dir) ? dir : null;
  } catch {
    return null;
  }
}

export class NarStrategies {
  private cmlmModel: Promise<CmlmModel> | null = null;

  /** `cmlmDir` null: no CMLM, so Mask-Predict is unavailable. */
  constructor(private readonly target: CausalModel, private readonly cmlmDir: string | null, private readonly runtime: RuntimeOptions) {}

  get cmlmAvailable(): boolean {
    return this.cmlmDir !== null;
  }

  /** The CMLM, opened on first use; a clear error when there is none. */
  cmlm(): Promise<CmlmModel> {
    if (!this.cmlmDir) {
      return Promise.reject(new HastenError('variant-missing', `Mask-Predict needs a conditional masked LM, and none was found for ${this.target.folder.dir}.`,
        'Put the CMLM folder (models/hasten-cmlm) beside the target and name it in manifest.json "defaults.cmlm", or pass cmlmDir to Engine.load.'));
    }
    this.cmlmModel ??= CmlmModel.open(this.cmlmDir, this.runtime).then((m) => {
      checkSameTokenizer(this.target.folder, m.folder);
      return m;
    });
    this.cmlmModel.catch(() => (this.cmlmModel = null));
    return this.cmlmModel;
  }

  /** The CMLM's FIM context for a cursor: at most `maskPredictContext` prompt tokens, leaving room for the longest span. */
  async maskPredictPrompt(prefix: string, suffix: string, s: NarSettings): Promise<number[]> {
    const cmlm = await this.cmlm();
    const budget = Math.min(positiveInt(s.maskPredictContext, 'maskPredictContext', 4096) + 3, cmlm.contextLength - cmlm.maxSpan);
    // The CMLM was trained on suffixes of up to 63 tokens after prefixes of up to 191: a quarter.
    return buildPrompt(cmlm.folder.tokenizer, prefix, suffix, { tokens: budget, suffixShare: 0.25 }).ids;
  }

  decoder(strategy: NarStrategy, s: NarSettings, req: DecodeRequest): AsyncGenerator<DecodeChunk, CompletionTrace> {
    if (strategy === 'lookahead') {
      const window = positiveInt(s.lookaheadWindow, 'lookaheadWindow', 64);
      const ngram = s.lookaheadNgram;
      if (!Number.isInteger(ngram) || ngram < 2 || ngram > 16) throw bad(`lookaheadNgram ${ngram} is outside the valid range 2..16.`, 'Set lookaheadNgram to an integer from 2 to 16.');
      return lookahead(this.target, req, { window, ngram, candidates: window, contextNgrams: true });
    }
    return this.maskPredict(s, req);
  }

  private async *maskPredict(s: NarSettings, req: DecodeRequest): AsyncGenerator<DecodeChunk, CompletionTrace> {
    const o = {
      iterations: positiveInt(s.maskPredictIterations, 'maskPredictIterations', 64),
      lengthCandidates: positiveInt(s.lengthCandidates, 'lengthCandidates', 16),
      ...(s.maskPredictLength ? { lengths: [s.maskPredictLength] } : {}),
    };
    return yield* maskPredict(await this.cmlm(), req, o);
  }

  async dispose(): Promise<void> {
    const m = await this.cmlmModel?.catch(() => null);
    this.cmlmModel = null;
    await m?.dispose();
  }
}

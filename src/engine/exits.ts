// The strategies that run the target layer by layer (early-exit, self-speculation): their
// settings, validation against the model's depth (errors name the valid range), and the lazily
// loaded layered model they share. Engine delegates to ExitStrategies and knows nothing more.
import { DecodeChunk, DecodeRequest } from './decoders/common';
import { CONFIDENCE_MEASURES, ConfidenceMeasure, ExitMeasureSetting, needsLogits } from './decoders/confidence';
import { EarlyExitOptions, earlyExit } from './decoders/earlyExit';
import { selfSpeculative } from './decoders/selfSpeculative';
import { LayerSkipDrafter, LayerSkipOptions } from './drafters/layerSkip';
import type { DecodeSettings } from './engine';
import { HastenError } from './errors';
import { ExitClassifier, hasExitClassifier } from './model/exitClassifier';
import { ModelFolder } from './model/folder';
import { LayeredModel, layeredFiles, SKIPPED_KV, SkippedKv } from './model/layered';
import { RuntimeOptions } from './model/session';
import { CompletionTrace } from './trace';

export interface ExitSettings {
  /** CALM: exit when the confidence reaches this, in [0, 1]; 1 never exits early. */
  exitThreshold: number;
  /** CALM: first layer (1-based) allowed to exit, 1..L; 0 = the measure's default (defaultMinExitLayer). */
  minExitLayer: number;
  /**
   * CALM's confidence measure. 'auto' (the default): the model's learned exit classifier where it ships
   * one (the bundled target does), else softmax, which every layered model supports.
   */
  exitMeasure: ExitMeasureSetting;
  /** CALM: how skipped layers get the K/V of an exited token (state propagation by default). */
  exitKv: SkippedKv;
  /** Self-speculation: initial draft exit layer E, 1..L-1; 0 = half the depth. */
  selfSpecLayer: number;
  /**
   * Self-speculation: adapt E within ±2 of selfSpecLayer by measured time per token (ExitLayerBandit).
   * Off by default: on the bundled target a fixed E = 4 ran at least as fast as the adaptive one in each
   * of three `hasten exit-sweep --prompts tuning --self-spec-layers 4` runs (0.84-0.90× against 0.82-0.86×
   * of autoregressive decoding), as the arms' costs per token lie within this machine's step-to-step
   * noise and exploring the others costs steps.
   */
  selfSpecAdapt: boolean;
}

/**
 * exitThreshold, with exitMeasure 'auto' and minExitLayer 0, is what the lower-bound calibration chose for
 * the bundled target's learned exit classifier: `npm run hasten -- calibrate --agreement 0.95 --measure
 * classifier --min-exit-layers 1,4,6,7 --limit 20` (60 tuning prompts, code neither trained on nor held out,
 * to calibrate; 60 of the benchmark's held-out prompts to check; bench/report/calibration-classifier-s22.json,
 * docs/early-exit.md): 0.98 from the first layer (99.9% agreement on the tuning prompts, 97.9% held out).
 * Side by side on the tuning prompts (`exit-sweep --prompts tuning --measure softmax,classifier --thresholds
 * 0.6,0.98`, exit-sweep-classifier-s22.json) it ran at 0.80x of autoregressive decoding against 0.74x for
 * softmax 0.6 from the layer before the last (session 21's calibrated default): its checks cost no LM-head
 * run. A model without a classifier falls back to softmax, at this threshold from the layer before the last:
 * conservative (few exits) where nothing calibrated it. hasten.exitThreshold in package.json mirrors
 * exitThreshold (test/unit/config.test.ts), so the two move together.
 */
export const DEFAULT_EXIT: ExitSettings = { exitThreshold: 0.98, minExitLayer: 0, exitMeasure: 'auto', exitKv: 'propagate', selfSpecLayer: 0, selfSpecAdapt: false };

/**
 * The minimum exit layer that minExitLayer 0 stands for. A softmax measure's check is an LM-head run
 * (on the bundled target about three blocks' arithmetic), which below the layer before the last costs
 * more than the exits save (calibration-s21.json); a check that costs nothing (saturation, the learned
 * classifier) may run from the first layer.
 */
export const defaultMinExitLayer = (layers: number, measure: ConfidenceMeasure = 'softmax'): number =>
  needsLogits(measure) ? Math.max(1, layers - 1) : 1;

const bad = (message: string, fix: string) => new HastenError('bad-request', message, fix);

/** The measure a setting stands for on a model that does (or does not) ship a learned exit classifier. */
export const resolveMeasure = (m: ExitMeasureSetting, hasClassifier: boolean): ConfidenceMeasure =>
  m === 'auto' ? (hasClassifier ? 'classifier' : 'softmax') : m;

/** CALM options for a model of `layers` layers (`hasClassifier`: it ships a learned exit classifier); throws naming the valid range. */
export function earlyExitOptions(s: ExitSettings, layers: number, hasClassifier = false): EarlyExitOptions {
  if (typeof s.exitThreshold !== 'number' || !(s.exitThreshold >= 0 && s.exitThreshold <= 1)) {
    throw bad(`Exit threshold ${s.exitThreshold} is outside the valid range [0, 1].`, 'Set exitThreshold between 0 (always exit at the minimum layer) and 1 (never exit early).');
  }
  if (s.exitMeasure !== 'auto' && !(CONFIDENCE_MEASURES as readonly string[]).includes(s.exitMeasure)) {
    throw bad(`Unknown confidence measure "${s.exitMeasure}".`, `Use one of ${CONFIDENCE_MEASURES.join(', ')} or auto.`);
  }
  const measure = resolveMeasure(s.exitMeasure, hasClassifier);
  const min = s.minExitLayer === 0 ? defaultMinExitLayer(layers, measure) : s.minExitLayer;
  if (!Number.isInteger(min) || min < 1 || min > layers) {
    throw bad(`Minimum exit layer ${s.minExitLayer} is outside the valid range 1..${layers} for this ${layers}-layer model.`, `Set minExitLayer to an integer from 1 to ${layers} (0 picks ${defaultMinExitLayer(layers, measure)}).`);
  }
  if (!(SKIPPED_KV as readonly string[]).includes(s.exitKv)) {
    throw bad(`Unknown skipped-layer KV mode "${s.exitKv}".`, `Use one of ${SKIPPED_KV.join(', ')}.`);
  }
  return { measure, threshold: s.exitThreshold, minExitLayer: min, skippedKv: s.exitKv };
}

/** Self-speculation options for a model of `layers` layers; throws naming the valid range. */
export function layerSkipOptions(s: ExitSettings & { draftLength: number }, layers: number): LayerSkipOptions {
  const auto = Math.max(1, Math.floor(layers / 2));
  const e = s.selfSpecLayer === 0 ? auto : s.selfSpecLayer;
  if (!Number.isInteger(e) || e < 1 || e >= layers) {
    throw bad(`Self-speculation exit layer ${s.selfSpecLayer} is outside the valid range 1..${layers - 1} for this ${layers}-layer model (the draft must leave at least one layer to verify).`,
      `Set selfSpecLayer to an integer from 1 to ${layers - 1} (0 picks ${auto}).`);
  }
  return { exitLayer: e, draftLength: Math.max(1, s.draftLength), exitSpread: s.selfSpecAdapt === false ? 0 : 2 };
}

export const EXIT_STRATEGIES = ['early-exit', 'self-speculation'] as const;
export type ExitStrategy = (typeof EXIT_STRATEGIES)[number];
export const isExitStrategy = (s: string): s is ExitStrategy => (EXIT_STRATEGIES as readonly string[]).includes(s);

/** The layered model, loaded on first use (eleven sessions, nineteen on the CPU, that other strategies never need). */
export class ExitStrategies {
  private model: Promise<LayeredModel> | null = null;
  private readonly drafters = new Map<string, LayerSkipDrafter>();
  private classifier: ExitClassifier | null = null;
  /** Whether the folder ships a learned exit classifier: what exitMeasure 'auto' picks by. */
  private readonly hasClassifier: boolean;

  constructor(private readonly folder: ModelFolder, private readonly runtime: RuntimeOptions) {
    this.hasClassifier = hasExitClassifier(folder.dir);
  }

  /** True when the folder has a layered variant. */
  get available(): boolean {
    try {
      layeredFiles(this.folder);
      return true;
    } catch {
      return false;
    }
  }

  /** The layered model (loads it on first call; a folder without the variant is a clear error). */
  layered(): Promise<LayeredModel> {
    if (!this.model) {
      this.model = LayeredModel.open(this.folder, this.runtime);
      this.model.catch(() => (this.model = null));
    }
    return this.model;
  }

  /** The folder's learned exit classifier, read on first use (a folder without one is a clear error). */
  exitClassifier(): ExitClassifier {
    return (this.classifier ??= ExitClassifier.open(this.folder));
  }

  async *decoder(strategy: ExitStrategy, s: DecodeSettings, req: DecodeRequest): AsyncGenerator<DecodeChunk, CompletionTrace> {
    const layers = this.folder.config.numLayers;
    if (strategy === 'early-exit') {
      const o = earlyExitOptions(s, layers, this.hasClassifier);
      if (o.measure === 'classifier') o.classifier = this.exitClassifier();
      return yield* earlyExit(await this.layered(), req, o);
    }
    const o = layerSkipOptions(s, layers);
    const model = await this.layered();
    // Drafters live across requests, so the measured E and k carry over.
    const key = `${o.exitLayer}:${o.draftLength}:${o.exitSpread}`;
    let d = this.drafters.get(key);
    if (!d) this.drafters.set(key, (d = new LayerSkipDrafter(model, o)));
    return yield* selfSpeculative(model, d, req, s.maxNodes);
  }

  /** Empties the layered model's caches, if it is loaded. */
  async reset(): Promise<void> {
    if (this.model) (await this.model.catch(() => null))?.reset();
  }

  async dispose(): Promise<void> {
    const m = this.model;
    this.model = null;
    if (m) await (await m.catch(() => null))?.dispose();
  }
}

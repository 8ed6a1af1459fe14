// The engine's narrow API: load models, complete at a cursor with a strategy, stream text and
// traces, dispose. Nothing here knows about VS Code.
import path from 'node:path';
import { autoregressive } from './decoders/autoregressive';
import { DecodeChunk } from './decoders/common';
import { speculative } from './decoders/speculative';
import { DraftModelDrafter } from './drafters/draftModel';
import { PromptLookupDrafter, DEFAULT_LOOKUP, lookupSteps, LookupOptions } from './drafters/promptLookup';
import { RetrievalDrafter, RetrievalIndex } from './drafters/retrieval';
import { HybridDrafter } from './drafters/hybrid';
import { Drafter } from './drafters/types';
import { HastenError, isAbortError } from './errors';
import { DEFAULT_EXIT, ExitSettings, ExitStrategies, isExitStrategy } from './exits';
import { CausalModel } from './model/causal';
import { checkSameTokenizer, openModelFolder, readManifest, type OnnxDtype } from './model/folder';
import { DEFAULT_NAR, defaultCmlm, isNarStrategy, NarSettings, NarStrategies } from './nar';
import { DEFAULT_RUNTIME, resolveProvider, RuntimeOptions } from './model/session';
import { Anchor, buildPrompt, CursorLine, Prompt, PromptContext, promptShares } from './prompt';
import { GREEDY, SamplingOptions } from './sampling';
import { AutoSelector, PRIOR_SPEEDUP, Strategy } from './strategies';
import { Channel } from './channel';
import { CompletionTrace } from './trace';

export interface EngineOptions {
  /** Target model folder (Hugging Face layout or a bundled model). */
  modelDir: string;
  /** Draft model folder; undefined picks the manifest's default draft when there is one, null disables. */
  draftDir?: string | null;
  /** CMLM folder for Mask-Predict; undefined picks the manifest's defaults.cmlm beside the target, null disables. */
  cmlmDir?: string | null;
  runtime?: Partial<RuntimeOptions>;
  /** Use the tree-attention graph when the folder has one (default); false verifies trees as batched paths on the standard graph. */
  treeAttention?: boolean;
  /** 'fast' (default): a builder-made folder runs its fast graph on an in-place cache; 'standard' forces the Optimum-style graph (A/B measurements). */
  graph?: 'fast' | 'standard';
  /** Which export of a target folder with several runs (onnx-community: onnx/model_q4.onnx, ...); default: the first of DTYPE_PREFERENCE present. */
  onnxDtype?: OnnxDtype;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface DecodeSettings extends ExitSettings, NarSettings {
  /** Initial draft depth (adapts to acceptance unless `draftAdaptive` is false). */
  draftLength: number;
  /** Draft-model chains and trees: adapt the depth to acceptance (+2 after a full match, -1 otherwise); false fixes it at `draftLength`. */
  draftAdaptive: boolean;
  /** Candidates per depth for the token-tree strategy, e.g. [3, 2, 2, 1]. */
  treeWidths: number[];
  /** Most draft nodes verified in one pass. */
  maxNodes: number;
}

/** Prompt lookup's settings: its drafter's, and the yardstick auto measures every completion against. */
const LOOKUP: LookupOptions = { ...DEFAULT_LOOKUP, draftLength: 8 };

/**
 * Prompt lookup as auto runs it: each draft sized by the match it copies from. After a match of one or
 * two tokens (64% of prompt lookup's drafting steps on the bench's prompts; 0.54 of 3.5 drafted tokens
 * accepted after one, 0.77 of 3.3 after two) it drafts at most 3 tokens, because a wider pass costs more
 * (the report's physical limit: 3 tokens 1.12× one, 9 tokens 1.44×); after a match of three or more (1.4 of
 * 3.4 accepted after three, 3.1 of 4.2 after four) it drafts up to 3 distinct continuations as a tree, the
 * first of them prompt lookup's own chain. Chosen by replaying the bundled target's greedy outputs on the
 * bench's 90 prompts through each setting (`npx tsx bench/lookupReplay.ts`: 1,838 passes against prompt
 * lookup's 1,934, 5% less modelled verification time); `test/unit/auto-lookup.test.ts` checks it on the 70
 * prompts the bench does not run (lossless, and fewer and narrower target passes on every workload). It holds
 * on the tuning prompts, which no setting was chosen on (`npx tsx bench/lookupReplay.ts --prompts tuning`:
 * 1,751 passes against 1,803, 4.5% less modelled verification time, fewer on every workload).
 */
export const AUTO_LOOKUP: LookupOptions = { ...LOOKUP, branches: 3, treeFromNgram: 3, depthByNgram: [0, 3, 3] };

/**
 * Prompt lookup inside the lookup-draft strategy: it copies only after a match of the longest n-gram
 * it looks for (4 tokens: 3.1 of 4.2 drafted tokens accepted, the figures above, so 4.1 tokens a target
 * pass with the bonus, and no draft runs), where a copy beats the bundled draft model's chain (3.42
 * tokens a pass at k = 4 on the held-out split, models/README.md, after four draft runs); after shorter
 * matches (0.54 to 1.4 of 3.3-3.5 accepted) the draft model drafts instead.
 */
export const HYBRID_LOOKUP: LookupOptions = { ...LOOKUP, minNgram: LOOKUP.maxNgram };

export const DEFAULT_DECODE: DecodeSettings = { draftLength: 4, draftAdaptive: true, treeWidths: [3, 2, 2, 1, 1, 1], maxNodes: 24, ...DEFAULT_EXIT, ...DEFAULT_NAR };

export interface CompletionRequest {
  prefix: string;
  suffix: string;
  /** Code from other files (the extra-context ring) and the cursor's file path; it shares the prompt budget (`Engine.promptFor`). */
  context?: PromptContext;
  /** Where a FIM prompt puts the text just before the cursor (`buildPrompt`): 'middle' lets typing on reuse the suffix's KV cache. Default 'prefix'. */
  cursorLine?: CursorLine;
  /** 'middle': most characters from the anchor line to the cursor (`middleStart`; default `ANCHOR_CHARS`; 0: the cursor line only). */
  anchorChars?: number;
  strategy: Strategy;
  maxNewTokens: number;
  sampling?: SamplingOptions;
  settings?: Partial<DecodeSettings>;
  signal?: AbortSignal;
  stopText?: (text: string) => boolean;
}

export interface CompletionUpdate {
  /** The completion so far. */
  text: string;
  /** True when `text` (and `delta`) replaced the text before instead of extending it: Mask-Predict revises its span. */
  revised?: boolean;
  delta: string;
  done: boolean;
  /** The live trace; complete when `done`. */
  trace: CompletionTrace;
}

let nextId = 1;

/** The target's provider after a change, and why (`Engine.onDidChangeProvider`). */
export interface ProviderChange {
  provider: string;
  providerReason: string;
}

export class Engine {
  readonly retrieval: RetrievalIndex;
  /** Why the target runs on its provider (auto's choice, the setting, or a fallback), for the status bar. */
  providerReason = '';
  private readonly providerListeners = new Set<(e: ProviderChange) => void>();
  /** The target's provider as last reported (a device that fails mid-decode leaves it on cpu). */
  private reportedProvider = '';
  /**
   * The last 'middle' prompt's anchor (`buildPrompt`): the next prompt keeps its text before the suffix
   * in place while it holds, so typing on across lines reuses the KV cache of the suffix. A hint about
   * what the cache holds, kept by `reset` (a cold run then builds the same prompt as a warm one).
   */
  private anchor: Anchor | undefined;
  /** The last fallback message (runtime.onFallback), for the reason shown after a mid-decode fallback. */
  private lastFallback = '';
  private readonly auto = new AutoSelector();
  private readonly drafters = new Map<string, Drafter>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Early exit and self-speculation: the layered variant, loaded when first asked for. */
  readonly exits: ExitStrategies;
  /** Lookahead and Mask-Predict (its CMLM loaded when first asked for). */
  readonly nar: NarStrategies;

  /** Bytes the engine's device sessions copied to the host (runtime.readBack): each trace carries its completion's share. */
  private readonly readBack: { bytes: number };

  private constructor(readonly target: CausalModel, readonly draft: CausalModel | null, private readonly log: NonNullable<EngineOptions['log']>, runtime: RuntimeOptions, cmlmDir: string | null) {
    this.readBack = runtime.readBack ?? { bytes: 0 };
    this.exits = new ExitStrategies(target.folder, runtime);
    this.nar = new NarStrategies(target, cmlmDir, runtime);
    this.retrieval = new RetrievalIndex(target.folder.tokenizer);
  }

  /** Loads the target (with its tree graph when it has one) and the draft model. */
  static async load(o: EngineOptions): Promise<Engine> {
    const log = o.log ?? (() => {});
    const runtime: RuntimeOptions = { ...DEFAULT_RUNTIME, ...o.runtime, onFallback: (m) => log('warn', m), onNote: (m) => log('info', m), readBack: { bytes: 0 } };
    const choice = resolveProvider(runtime.provider);
    if (runtime.provider === 'auto') log('info', `hasten.executionProvider auto: ${choice.provider} (${choice.reason}).`);
    const targetFolder = openModelFolder(o.modelDir, o.onnxDtype ? { dtype: o.onnxDtype } : {});
    if (targetFolder.manifest?.kind === 'cmlm' || targetFolder.raw.model_type === 'hasten-cmlm') {
      throw new HastenError('model-mismatch', `${targetFolder.dir} is a masked LM, not a causal model.`, 'Pick a causal model folder for completions.');
    }
    const draftDir = o.draftDir === undefined ? defaultDraft(targetFolder.dir) : o.draftDir;
    const draftFolder = draftDir ? openModelFolder(draftDir) : null;
    if (draftFolder) checkSameTokenizer(targetFolder, draftFolder);
    // Without tree attention, trees are verified as batched paths: that needs the standard graph.
    const target = await CausalModel.open(targetFolder, runtime, o.treeAttention ?? true, { fast: o.treeAttention !== false && o.graph !== 'standard' });
    let draft: CausalModel | null = null;
    try {
      draft = draftFolder ? await CausalModel.open(draftFolder, { ...runtime, threads: 1 }) : null;
    } catch (err) {
      await target.dispose();
      throw err;
    }
    log('info', `Loaded ${targetFolder.name} (${target.provider}, ${target.graph} graph ${path.basename(target.chainFile)}${target.nativeTree ? ', tree attention' : ''})${draft ? ` with draft ${draft.folder.name}` : ''}.`);
    const engine = new Engine(target, draft, log, runtime, o.cmlmDir === undefined ? defaultCmlm(targetFolder.dir) : o.cmlmDir);
    engine.providerReason = target.provider === choice.provider ? `${runtime.provider === 'auto' ? 'auto: ' : ''}${choice.reason}` : `${choice.provider} failed to start; see Hasten: Show Log`;
    engine.reportedProvider = target.provider;
    // The models hold this runtime: a fallback while decoding is remembered for the reason shown.
    const onFallback = runtime.onFallback!;
    runtime.onFallback = (m) => {
      engine.lastFallback = m;
      onFallback(m);
    };
    return engine;
  }

  /** Strategies this engine can run right now. */
  available(): Strategy[] {
    const s: Strategy[] = ['auto', 'autoregressive', 'prompt-lookup', 'retrieval'];
    if (this.draft) s.push('draft-model', 'token-tree', 'lookup-draft');
    if (this.exits.available) s.push('early-exit', 'self-speculation');
    s.push('lookahead');
    if (this.nar.cmlmAvailable) s.push('mask-predict');
    return s;
  }

  /**
   * The prompt for a cursor between `prefix` and `suffix`, with extra context from other files,
   * leaving room for the completion, with its token-healing text. The budget is the context
   * (hasten.contextTokens) less the completion: the suffix takes at most a quarter, extra context
   * keeps a quarter when there is any (`promptShares`), the prefix the rest. `cursorLine`, `last` and
   * `anchorChars` as `buildPrompt`'s.
   */
  promptFor(prefix: string, suffix: string, maxNewTokens: number, context?: PromptContext, cursorLine: CursorLine = 'prefix', last?: Anchor, anchorChars?: number): Prompt {
    const tokens = this.target.contextLength - maxNewTokens - 1;
    return buildPrompt(this.target.folder.tokenizer, prefix, suffix, { tokens, ...promptShares(this.target.contextLength) }, true, context, cursorLine, last, anchorChars);
  }

  /** Prompt ids for a cursor between `prefix` and `suffix` (the healed token already taken off). */
  prompt(prefix: string, suffix: string, maxNewTokens: number, context?: PromptContext): number[] {
    return this.promptFor(prefix, suffix, maxNewTokens, context).ids;
  }

  /**
   * Streams a completion. Requests run one at a time (the KV cache is shared); a caller that wants
   * the newest request to win aborts the previous one. Decoding runs in its own task and feeds a
   * channel, so a consumer that stops reading cannot block later requests.
   */
  complete(req: CompletionRequest): AsyncIterable<CompletionUpdate> {
    const channel = new Channel<CompletionUpdate>();
    const job = this.queue.then(async () => {
      try {
        for await (const u of this.run(req)) channel.push(u);
      } finally {
        // A device that failed in this completion (finished, aborted or failed) left the model on the cpu.
        this.reportProvider();
      }
    });
    this.queue = job.then(
      () => channel.close(),
      (err: unknown) => {
        if (!isAbortError(err)) this.log('error', `Completion failed (${req.strategy}): ${err instanceof Error ? err.message : String(err)}`);
        channel.close(err);
      },
    );
    return channel;
  }

  private async *run(req: CompletionRequest): AsyncGenerator<CompletionUpdate> {
    const maxNew = Math.max(1, Math.min(req.maxNewTokens, Math.floor(this.target.contextLength / 2)));
    const strategy = req.strategy === 'auto' ? this.auto.choose(this.autoCandidates()) : req.strategy;
    const settings = { ...DEFAULT_DECODE, ...req.settings };
    const { ids: prompt, heal, anchor } = strategy === 'mask-predict' ? { ids: await this.nar.maskPredictPrompt(req.prefix, req.suffix, settings), heal: '', anchor: this.anchor } : this.promptFor(req.prefix, req.suffix, maxNew, req.context, req.cursorLine, this.anchor, req.anchorChars);
    this.anchor = anchor;
    const gen = this.decoder(strategy, settings, req.strategy === 'auto', {
      prompt, maxNewTokens: maxNew, ...(heal ? { heal } : {}), sampling: req.sampling ?? GREEDY, stopText: req.stopText, ...(req.signal ? { signal: req.signal } : {}),
    });
    let text = '';
    const read0 = this.readBack.bytes;
    const live: CompletionTrace = { id: nextId++, strategy: req.strategy === 'auto' ? `auto:${strategy}` : strategy, model: this.target.folder.name, drafter: '', promptTokens: prompt.length, reusedTokens: 0, tokens: 0, output: [], prefillMs: 0, decodeMs: 0, steps: [], stopReason: 'length' };
    for (;;) {
      const r: IteratorResult<DecodeChunk, CompletionTrace> = await gen.next();
      if (r.done) {
        Object.assign(live, { ...r.value, id: live.id, strategy: live.strategy });
        if (this.readBack.bytes > read0) live.deviceReadBytes = this.readBack.bytes - read0;
        // Every lossless strategy's completions count, chosen by auto or not. Decode time only (prefill costs
        // every strategy the same and would swamp short completions), per step prompt lookup would have taken
        // on this completion, so that contexts of different difficulty compare (AutoSelector).
        if (PRIOR_SPEEDUP[strategy] !== undefined) this.auto.record(strategy, r.value.tokens, r.value.decodeMs, lookupSteps(prompt, r.value.output, LOOKUP));
        yield { text, delta: '', done: true, trace: live };
        return;
      }
      const revised = r.value.revise === true;
      text = revised ? r.value.delta : text + r.value.delta;
      live.tokens = (revised ? 0 : live.tokens) + r.value.ids.length;
      if (r.value.step) live.steps.push(r.value.step);
      yield { text, delta: r.value.delta, done: false, trace: live, ...(revised ? { revised } : {}) };
    }
  }

  /**
   * Fires when the target's provider changes after load: a device that failed mid-decode (the
   * completion finished on the cpu). The status bar shows the new provider and why.
   */
  onDidChangeProvider(listener: (e: ProviderChange) => void): { dispose(): void } {
    this.providerListeners.add(listener);
    return { dispose: () => this.providerListeners.delete(listener) };
  }

  private reportProvider(): void {
    const now = this.target.provider;
    if (now === this.reportedProvider) return;
    const was = this.reportedProvider;
    this.reportedProvider = now;
    const cause = /failed while decoding \((.*)\); continuing/.exec(this.lastFallback)?.[1];
    this.providerReason = `${was} failed while decoding${cause ? ` (${cause})` : ''}; the model runs on ${now} until it is reloaded`;
    for (const l of [...this.providerListeners]) l({ provider: now, providerReason: this.providerReason });
  }

  /** Empties the KV caches, so the next request pays its full prefill (benchmarks compare like with like). */
  async reset(): Promise<void> {
    await this.queue;
    this.target.reset();
    this.draft?.reset();
    await this.exits.reset();
  }

  /** Lossless strategies auto chooses between; plain decoding is one, so a model whose drafts never pay off falls back to it. */
  private autoCandidates(): Strategy[] {
    const c: Strategy[] = ['prompt-lookup', 'lookahead', 'autoregressive'];
    if (this.draft) c.push('lookup-draft', 'draft-model', 'token-tree');
    if (this.retrieval.size > 0) c.push('retrieval');
    return c;
  }

  private decoder(strategy: Strategy, s: DecodeSettings, forAuto: boolean, req: Parameters<typeof autoregressive>[1]): AsyncGenerator<DecodeChunk, CompletionTrace> {
    if (strategy === 'autoregressive') return autoregressive(this.target, req);
    if (isExitStrategy(strategy)) return this.exits.decoder(strategy, s, req);
    if (isNarStrategy(strategy)) return this.nar.decoder(strategy, s, req);
    return speculative(this.target, this.drafter(strategy, s, forAuto), req, strategy, { maxNodes: s.maxNodes });
  }

  /**
   * Drafters live across requests, so their adaptive draft length carries over. Auto's are its own:
   * requests that name a strategy between auto's (the benchmark runs every strategy on every prompt)
   * moved a shared drafter's draft length, so auto's prompt-lookup completions drafted other chains
   * than prompt lookup's own on the same prompt (47 of the last full bench's 87 such prompts, 13 of
   * them in another number of steps).
   */
  private drafter(strategy: Strategy, s: DecodeSettings, forAuto: boolean): Drafter {
    const key = `${forAuto ? 'auto:' : ''}${strategy}:${s.draftLength}:${s.draftAdaptive}:${s.treeWidths.join(',')}`;
    let d = this.drafters.get(key);
    if (!d) {
      d = this.newDrafter(strategy, s, forAuto);
      this.drafters.set(key, d);
    }
    return d;
  }

  private newDrafter(strategy: Strategy, s: DecodeSettings, forAuto: boolean): Drafter {
    switch (strategy) {
      case 'prompt-lookup': {
        const o = forAuto ? AUTO_LOOKUP : LOOKUP;
        return new PromptLookupDrafter({ ...o, draftLength: Math.max(s.draftLength, o.draftLength) });
      }
      case 'retrieval':
        return new RetrievalDrafter(this.retrieval);
      case 'draft-model':
      case 'token-tree': {
        if (!this.draft) throw new HastenError('variant-missing', `Strategy "${strategy}" needs a draft model.`, 'Set hasten.draftModel to a folder that shares the target\'s tokenizer.');
        const widths = strategy === 'token-tree' ? s.treeWidths : [];
        return new DraftModelDrafter(this.draft, { draftLength: s.draftLength, adaptive: s.draftAdaptive, widths });
      }
      case 'lookup-draft': {
        if (!this.draft) throw new HastenError('variant-missing', 'Strategy "lookup-draft" needs a draft model.', 'Set hasten.draftModel to a folder that shares the target\'s tokenizer, or use prompt-lookup.');
        const lookup = new PromptLookupDrafter({ ...HYBRID_LOOKUP, draftLength: Math.max(s.draftLength, HYBRID_LOOKUP.draftLength) });
        return new HybridDrafter(lookup, new DraftModelDrafter(this.draft, { draftLength: s.draftLength, adaptive: s.draftAdaptive, widths: [] }));
      }
      default:
        throw new HastenError('bad-request', `Unknown strategy "${strategy}".`, 'Pick one with "Hasten: Select Decoding Strategy".');
    }
  }

  async dispose(): Promise<void> {
    await this.queue;
    await Promise.all([...this.drafters.values()].map((d) => d.dispose()));
    await this.target.dispose();
    await this.draft?.dispose();
    await this.exits.dispose();
    await this.nar.dispose();
  }
}

/** The manifest's default draft for a bundled target, if the folder is listed in one. */
function defaultDraft(targetDir: string): string | null {
  try {
    const m = readManifest(path.join(path.dirname(targetDir), 'manifest.json'));
    const entry = m.models[path.basename(targetDir)];
    const name = entry?.drafts?.includes(m.defaults.draft) ? m.defaults.draft : entry?.drafts?.[0];
    return name ? path.join(path.dirname(targetDir), name) : null;
  } catch {
    return null;
  }
}

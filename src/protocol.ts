// The messages between the extension and the visualiser webview, in both directions, declared once.
// The webview bundle imports this file too, so it holds types, constants and pure guards only:
// no `vscode`, no Node. Everything that arrives from the webview goes through `parseFromWebview`.

/** Most completions the panel keeps and offers in its history picker. */
export const HISTORY_CAP = 50;
/** Most steps, draft nodes per step and characters per token text sent for one completion. */
export const MAX_STEPS = 256;
export const MAX_NODES = 128;
export const MAX_TOKEN_CHARS = 32;
/** Largest SVG the extension agrees to save (characters). */
export const MAX_SVG_CHARS = 2_000_000;
/** Largest file name the webview may suggest for an export. */
export const MAX_NAME_CHARS = 80;

// ---------------------------------------------------------------------------------------------
// The compact view of one completion: only what the panel draws, rounded and capped.

/** One draft node of a step, as the tree draws it. */
export interface ViewNode {
  text: string;
  /** Index of the parent node in the same step; -1 = the last committed token. */
  parent: number;
  /** Output position (0-based) the node would take if accepted. */
  position: number;
  draftProb: number | null;
  targetProb: number | null;
  status: 'accepted' | 'rejected';
  exitLayer?: number;
}

/** The token the target adds after the accepted path. */
export interface ViewBonus {
  text: string;
  position: number;
  prob: number;
  kind: 'bonus' | 'recovered';
  exitLayer?: number;
}

export interface ViewStep {
  step: number;
  drafter: string;
  nodes: ViewNode[];
  bonus: ViewBonus | null;
  emitted: number;
  accepted: number;
  draftMs: number;
  verifyMs: number;
  totalMs: number;
  /** Mask-Predict: positions re-masked in this iteration. */
  remasked?: { position: number; confidence: number }[];
}

/** Where an output token came from: a drafted-and-accepted node, or the target's bonus or recovered token. */
export type TokenOrigin = 'accepted' | 'bonus' | 'recovered';

/** One output token of the exit-layer strip. */
export interface StripToken {
  text: string;
  position: number;
  step: number;
  origin: TokenOrigin;
  exitLayer?: number;
}

/** The estimated speed-up over autoregressive decoding, with how it was estimated. */
export interface SpeedupEstimate {
  value: number | null;
  method: string;
}

export interface ViewSummary {
  strategy: string;
  model: string;
  drafter: string;
  tokens: number;
  steps: number;
  drafted: number;
  accepted: number;
  /** Accepted / drafted; null when nothing was drafted. */
  acceptanceRate: number | null;
  meanAcceptedPerStep: number;
  tokensPerStep: number;
  tokensPerSecond: number;
  promptTokens: number;
  reusedTokens: number;
  prefillMs: number;
  decodeMs: number;
  stopReason: string;
  speedup: SpeedupEstimate;
  /** Deepest exit layer seen; null when the trace has no exit layers. */
  maxExitLayer: number | null;
  meanExitLayer: number | null;
}

/** One completion as the panel sees it. */
export interface ViewTrace {
  id: number;
  /** The decode is still running (this is a live snapshot). */
  live: boolean;
  at: number;
  file: string;
  languageId: string;
  prefetch: boolean;
  /** The suggestion shown (capped). */
  shown: string;
  firstMs: number | null;
  totalMs: number | null;
  summary: ViewSummary;
  steps: ViewStep[];
  strip: StripToken[];
  /** Steps dropped by MAX_STEPS. */
  truncatedSteps: number;
}

/** One row of the history picker. */
export interface HistoryEntry {
  id: number;
  label: string;
  live: boolean;
  /** "Follow newest" may show it: not a prefetch the user has not seen. */
  followed: boolean;
}

/**
 * Whether the visualiser follows, and the status bar describes, this completion: what the user asked
 * for or saw. A prefetch nobody has seen yet is listed (and marked) but never followed.
 */
export function isFollowed(r: { prefetch: boolean; served?: boolean }): boolean {
  return !r.prefetch || r.served === true;
}

// ---------------------------------------------------------------------------------------------
// Extension → webview.

export type ToWebview =
  /** The history and the trace to show: sent after `ready` and whenever a completion finishes or grows. */
  | { type: 'update'; history: HistoryEntry[]; trace: ViewTrace | null }
  /** The answer to `select`. */
  | { type: 'trace'; trace: ViewTrace }
  | { type: 'exported'; path: string }
  | { type: 'exportFailed'; message: string };

// ---------------------------------------------------------------------------------------------
// Webview → extension.

export type FromWebview =
  /** The script has loaded and wants the current state. */
  | { type: 'ready' }
  /** Show this completion from the history. */
  | { type: 'select'; id: number }
  /** Save this SVG document; `name` is the suggested file name. */
  | { type: 'export'; svg: string; name: string };

export type Parsed = { ok: true; message: FromWebview } | { ok: false; error: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Own keys only: a `type` inherited from a polluted prototype must not count. */
function field(o: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

function exactKeys(o: Record<string, unknown>, keys: readonly string[]): string | null {
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  return extra.length ? `unexpected field ${JSON.stringify(extra[0]!.slice(0, 40))}` : null;
}

/** Why `svg` is not an SVG document the extension will write; null when it is acceptable. */
export function svgProblem(svg: string): string | null {
  if (svg.length > MAX_SVG_CHARS) return `svg is ${svg.length} characters, over ${MAX_SVG_CHARS}`;
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '');
  if (!/^<svg[\s>]/.test(body)) return 'svg does not start with <svg';
  if (!body.includes('xmlns="http://www.w3.org/2000/svg"')) return 'svg lacks the SVG namespace';
  if (!/<\/svg>\s*$/.test(body)) return 'svg does not end with </svg>';
  // The exporter writes none of these; a document that has them did not come from it.
  if (/<\s*(script|foreignObject|iframe|object|embed|image|use|a|set|animate\w*)[\s/>]/i.test(body)) return 'svg contains an element the exporter never writes';
  // Token texts are escaped into <text> and <title>; outside them no markup may reach anything.
  const markup = body.replace(/<(text|title)\b[^>]*>[^<]*<\/\1>/g, '');
  if (/\son[a-z]+\s*=/i.test(markup)) return 'svg contains an event handler attribute';
  if (/\b(href|xlink:href)\s*=/i.test(markup)) return 'svg contains a link';
  if (/javascript:|data:|url\s*\(|@import|expression\s*\(/i.test(markup)) return 'svg refers to a URL or a script';
  return null;
}

/** A file name the save dialog may propose: plain characters, ending in .svg. */
export function isSafeName(name: string): boolean {
  return name.length > 4 && name.length <= MAX_NAME_CHARS && /^[\w.-]+\.svg$/.test(name) && !name.startsWith('.');
}

/** Checks a message from the webview; anything else is an error to log and ignore. */
export function parseFromWebview(raw: unknown): Parsed {
  if (!isRecord(raw)) return { ok: false, error: `not an object (${raw === null ? 'null' : Array.isArray(raw) ? 'array' : typeof raw})` };
  const type = field(raw, 'type');
  const fail = (error: string): Parsed => ({ ok: false, error: `${typeof type === 'string' ? type.slice(0, 20) : 'message'}: ${error}` });
  switch (type) {
    case 'ready': {
      const extra = exactKeys(raw, ['type']);
      return extra ? fail(extra) : { ok: true, message: { type } };
    }
    case 'select': {
      const id = field(raw, 'id');
      const extra = exactKeys(raw, ['type', 'id']);
      if (extra) return fail(extra);
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return fail('id is not a non-negative integer');
      return { ok: true, message: { type, id } };
    }
    case 'export': {
      const svg = field(raw, 'svg');
      const name = field(raw, 'name');
      const extra = exactKeys(raw, ['type', 'svg', 'name']);
      if (extra) return fail(extra);
      if (typeof svg !== 'string') return fail('svg is not a string');
      if (typeof name !== 'string' || !isSafeName(name)) return fail('name is not a plain file name ending in .svg');
      const problem = svgProblem(svg);
      return problem ? fail(problem) : { ok: true, message: { type, svg, name } };
    }
    default:
      return { ok: false, error: `unknown message type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 40) : typeof type)}` };
  }
}

/** Handlers for each valid message from the webview. */
export type WebviewHandlers = { [K in FromWebview['type']]: (message: Extract<FromWebview, { type: K }>) => void };

/** Validates `raw` and calls its handler; a malformed message calls none and is reported to `ignored`. */
export function dispatchFromWebview(raw: unknown, handlers: WebviewHandlers, ignored: (error: string) => void): void {
  let parsed: Parsed;
  try {
    parsed = parseFromWebview(raw);
  } catch (err) {
    // A getter or proxy in a hand-made object can throw; the webview only sends plain JSON.
    parsed = { ok: false, error: `unreadable message (${err instanceof Error ? err.message : String(err)})` };
  }
  if (!parsed.ok) return ignored(parsed.error);
  const m = parsed.message;
  switch (m.type) {
    case 'ready':
      return handlers.ready(m);
    case 'select':
      return handlers.select(m);
    case 'export':
      return handlers.export(m);
  }
}

// The text windows around the cursor, by characters (the engine trims the prompt to tokens).
import type { CompletionConfig } from '../config';
import type { CursorContext } from './policy';

/** Read access to a document's text by offsets, so large files are never copied whole. */
export interface TextSource {
  readonly length: number;
  slice(start: number, end: number): string;
}

export interface Windows {
  prefix: string;
  suffix: string;
  cursor: CursorContext;
}

/** Lines after the cursor's line that the policy compares completions with. */
const NEXT_LINES = 3;

/** The prefix window grows by this share of `prefixChars` past it before its start moves (its default step). */
const PREFIX_SLACK = 0.5;
/** The start then moves on to the next line start within this many characters (or the step, if smaller). */
const LINE_SEARCH = 256;

/** The prefix window's default step at `prefixChars` (see `prefixStart`). */
export function prefixStep(prefixChars: number): number {
  return Math.max(1, Math.floor(prefixChars * PREFIX_SLACK));
}

/**
 * Where the prefix window starts: `prefixChars` or up to `step` more before the cursor, at a multiple
 * of the step, then at the next line start within `LINE_SEARCH` characters (or the step). While the user
 * types, the start stays put until the window has grown by a whole step (by default half of
 * `prefixChars`: 1,000 characters at the default 2,000), then moves forward by that step at once, so the
 * prompt up to the cursor is unchanged and the engine reuses its KV cache; a start that moves costs a
 * whole prefill (it changes the prompt's first tokens), so it moves rarely, by a large step.
 */
export function prefixStart(src: TextSource, offset: number, prefixChars: number, step = prefixStep(prefixChars)): number {
  if (offset <= prefixChars) return 0;
  const start = Math.floor((offset - prefixChars) / step) * step;
  if (start === 0) return 0;
  const head = src.slice(start, Math.min(offset, start + Math.min(step, LINE_SEARCH)));
  const nl = head.indexOf('\n');
  return nl === -1 ? start : start + nl + 1;
}

/** Prefix and suffix windows at `offset` (the prefix window's `step` as `prefixStart`'s), and the cursor context the multi-line policy needs. */
export function windowsAt(src: TextSource, offset: number, cfg: Pick<CompletionConfig, 'prefixChars' | 'suffixChars' | 'multiline' | 'maxLines'>, step?: number): Windows {
  const prefix = src.slice(prefixStart(src, offset, cfg.prefixChars, step), offset);
  const suffix = src.slice(offset, Math.min(src.length, offset + cfg.suffixChars));
  const nl = suffix.indexOf('\n');
  const lineSuffix = nl === -1 ? suffix : suffix.slice(0, nl);
  const nextLines = nl === -1 ? [] : suffix.slice(nl + 1).split('\n').slice(0, NEXT_LINES);
  // The last of the lines is cut by the window; it is only a full line if the window ended on a newline.
  if (nextLines.length === NEXT_LINES && !suffix.endsWith('\n') && offset + cfg.suffixChars < src.length) nextLines.pop();
  return {
    prefix,
    suffix,
    cursor: { linePrefix: prefix.slice(prefix.lastIndexOf('\n') + 1), lineSuffix, nextLines, mode: cfg.multiline, maxLines: cfg.maxLines },
  };
}

/** A TextSource over a string (tests, the benchmark harness). */
export function stringSource(text: string): TextSource {
  return { length: text.length, slice: (a, b) => text.slice(a, b) };
}

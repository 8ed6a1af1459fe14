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

/** The prefix window's start moves in steps of this many characters (then to a line start), a quarter of a smaller window. */
const PREFIX_STEP = 256;

/**
 * Where the prefix window starts: at most `prefixChars` before the cursor, rounded up to a multiple of
 * the step and then to the next line start within a step, so the window keeps at least half of
 * `prefixChars`. While the user types, the start stays put for a step's worth of characters, so the
 * prompt up to the cursor is unchanged and the engine reuses its KV cache (a start that moved with
 * every key changed the first tokens and cost a whole prefill).
 */
export function prefixStart(src: TextSource, offset: number, prefixChars: number): number {
  if (offset <= prefixChars) return 0;
  const step = Math.max(1, Math.min(PREFIX_STEP, Math.floor(prefixChars / 4)));
  const start = Math.ceil((offset - prefixChars) / step) * step;
  const head = src.slice(start, Math.min(offset, start + step));
  const nl = head.indexOf('\n');
  return nl === -1 ? start : start + nl + 1;
}

/** Prefix and suffix windows at `offset`, and the cursor context the multi-line policy needs. */
export function windowsAt(src: TextSource, offset: number, cfg: Pick<CompletionConfig, 'prefixChars' | 'suffixChars' | 'multiline' | 'maxLines'>): Windows {
  const prefix = src.slice(prefixStart(src, offset, cfg.prefixChars), offset);
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

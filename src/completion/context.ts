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

/** Prefix and suffix windows at `offset`, and the cursor context the multi-line policy needs. */
export function windowsAt(src: TextSource, offset: number, cfg: Pick<CompletionConfig, 'prefixChars' | 'suffixChars' | 'multiline' | 'maxLines'>): Windows {
  const prefix = src.slice(Math.max(0, offset - cfg.prefixChars), offset);
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

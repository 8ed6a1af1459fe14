// The multi-line policy and stop conditions, as pure functions over text. The engine calls
// `shouldStop` on the growing completion (via stopText) so it stops decoding early; `shape`
// turns whatever was decoded into the suggestion shown.
import type { MultilineMode } from '../config';
import { onlyClosers } from '../engine';
import { inlineCycleCut, lineLoopStart, returnChainStart, specialTokenIndex, type SeenLine } from './hygiene';

/** What the policy needs to know about the cursor's surroundings. */
export interface CursorContext {
  /** Text on the cursor's line before the cursor. */
  linePrefix: string;
  /** Text on the cursor's line after the cursor. */
  lineSuffix: string;
  /** A few lines after the cursor's line, nearest first. */
  nextLines: readonly string[];
  mode: MultilineMode;
  maxLines: number;
}

const OPENERS = '([{';
const CLOSERS = ')]}';
/** A line ending in one of these opens a block, so the completion may span lines. */
const BLOCK_OPENER = /(?:[{([:]|=>|\bdo|\bthen|\b(?:begin))\s*$/;

/** Leading whitespace width, tabs counted as 4 columns. */
export function indentOf(line: string): number {
  let n = 0;
  for (const ch of line) {
    if (ch === ' ') n++;
    else if (ch === '\t') n += 4;
    else break;
  }
  return n;
}

/** Whether the policy allows more than one line here. */
export function allowsMultiline(ctx: CursorContext): boolean {
  if (ctx.mode === 'never') return false;
  if (ctx.mode === 'always') return true;
  // auto: at a blank line or after a block opener, with nothing but closers after the cursor.
  return onlyClosers(ctx.lineSuffix) && (ctx.linePrefix.trim() === '' || BLOCK_OPENER.test(ctx.linePrefix));
}

/** Calls `visit` with the depth after each bracket outside simple string literals; stops when it returns true. */
function scanBrackets(text: string, start: number, visit: (depth: number, at: number) => boolean | void): void {
  let depth = start;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote || ch === '\n') quote = '';
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    else if (OPENERS.includes(ch)) depth++;
    else if (CLOSERS.includes(ch)) depth--;
    else continue;
    if (visit(depth, i)) return;
  }
}

/** Net bracket depth change over `text`, skipping the contents of simple string literals. */
export function bracketDelta(text: string, start = 0): { depth: number; min: number } {
  let depth = start;
  let min = start;
  scanBrackets(text, start, (d) => {
    depth = d;
    min = Math.min(min, d);
  });
  return { depth, min };
}

/** Index of the first closer in `text` that closes a bracket opened before it (depth below zero), or -1. */
export function unopenedCloser(text: string): number {
  let at = -1;
  scanBrackets(text, 0, (d, i) => {
    if (d < 0) at = i;
    return d < 0;
  });
  return at;
}

/**
 * Where the completion ends, judged on its complete lines only (a partial last line is left
 * alone unless `final`): the length to keep, or -1 when no stop condition holds yet.
 */
export function stopIndex(text: string, ctx: CursorContext, final = false): number {
  // A special token's text, or a phrase looping within a line, ends the completion whatever follows.
  const cut = hardCut(text);
  if (cut >= 0) return stopIndex(text.slice(0, cut), ctx, true);
  const lines = text.split('\n');
  const complete = final ? lines.length : lines.length - 1;
  if (!allowsMultiline(ctx)) {
    // A leading newline on a non-blank line means the model wants to start a new line: nothing to show.
    if (lines.length > 1) return lines[0]!.trim() === '' && ctx.linePrefix.trim() !== '' ? 0 : lines[0]!.length;
    return final ? text.length : -1;
  }
  const base = indentOf(ctx.linePrefix);
  const opensBlock = BLOCK_OPENER.test(ctx.linePrefix);
  const next = ctx.nextLines.find((l) => l.trim() !== '')?.trim();
  let offset = 0;
  let depth = 0;
  let shown = 0;
  const seen: SeenLine[] = [];
  for (let i = 0; i < complete; i++) {
    const line = lines[i]!;
    const blank = line.trim() === '';
    if (!blank) {
      // A line (or a short cycle of lines) that repeats the ones just before it: the model is looping.
      const full = i === 0 ? ctx.linePrefix + line : line;
      seen.push({ text: full.trim(), start: offset, indent: indentOf(full) });
      const loops = [lineLoopStart(seen), returnChainStart(seen)].filter((at) => at >= 0);
      if (loops.length > 0) return trimEnd(text, Math.min(...loops));
    }
    const startsLine = i > 0 || ctx.linePrefix.trim() === '';
    if (startsLine && !blank) {
      // Regenerating the code that already follows the cursor (outside brackets the completion opened).
      if (depth <= 0 && next !== undefined && line.trim() === next) return trimEnd(text, offset);
    }
    if (i > 0 && !blank) {
      const indent = indentOf(line);
      // Dedent below the cursor's block (or, after a block opener, back to its level without closing it): the block is over.
      if (indent < base || (opensBlock && indent <= base && !CLOSERS.includes(line.trim()[0]!))) return trimEnd(text, offset);
      if (shown >= ctx.maxLines) return trimEnd(text, offset);
    }
    const b = bracketDelta(line, depth);
    depth = b.depth;
    offset += line.length + 1;
    if (!blank || i === 0) shown++;
    // Balanced brackets: this line closed a bracket opened before the cursor, so the enclosing construct ends here.
    if (b.min < 0 && (i > 0 || ctx.linePrefix.trim() !== '')) return trimEnd(text, Math.min(offset - 1, text.length));
  }
  if (lines.length - 1 >= ctx.maxLines + 8) return trimEnd(text, offset);
  return final ? trimEnd(text, text.length) : -1;
}

/** The earliest special token's text or within-line cycle in `text` (the cut keeps one occurrence), or -1. */
function hardCut(text: string): number {
  let cut = specialTokenIndex(text);
  let start = 0;
  for (const line of text.split('\n')) {
    if (cut >= 0 && start >= cut) break;
    const c = inlineCycleCut(line);
    if (c >= 0) {
      cut = cut >= 0 ? Math.min(cut, start + c) : start + c;
      break;
    }
    start += line.length + 1;
  }
  return cut;
}

function trimEnd(text: string, at: number): number {
  let end = Math.min(at, text.length);
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  return end;
}

/** Tells the engine to stop once a stop condition holds. */
export function shouldStop(text: string, ctx: CursorContext): boolean {
  return stopIndex(text, ctx) >= 0;
}

/**
 * The suggestion to show for decoded `text`: cut at the first stop condition, without text that
 * only repeats what follows the cursor, and empty when nothing but whitespace is left.
 * `final` is false while decoding goes on: then only complete lines are shown.
 */
export function shape(text: string, ctx: CursorContext, final: boolean): string {
  const stop = stopIndex(text, ctx, final);
  let out = stop >= 0 ? text.slice(0, stop) : text.slice(0, Math.max(0, text.lastIndexOf('\n')));
  if (!allowsMultiline(ctx) && !final && stop < 0) out = '';
  out = dropSuffixRepeat(out, ctx.lineSuffix);
  // Blanks already typed (auto-indent, a trailing space) are not added to: any model, any strategy.
  if (/[ \t]$/.test(ctx.linePrefix)) out = out.replace(/^[ \t]+/, '');
  return out.trim() === '' ? '' : out.replace(/[ \t]+$/, '');
}

/** Removes the end of the first line when it repeats the rest of the cursor's line (e.g. an auto-closed bracket). */
export function dropSuffixRepeat(text: string, lineSuffix: string): string {
  const rest = lineSuffix.trim();
  if (rest === '') return text;
  const nl = text.indexOf('\n');
  const first = nl === -1 ? text : text.slice(0, nl);
  let cut: string | undefined;
  // The completion closes the bracket the cursor sits in, which the rest of the line already closes: keep what comes before it.
  const at = unopenedCloser(first);
  if (at >= 0 && rest.startsWith(first[at]!)) cut = first.slice(0, at);
  else if (first.trimEnd().endsWith(rest)) cut = first.trimEnd().slice(0, -rest.length);
  if (cut === undefined) return text;
  return nl === -1 ? cut : cut + text.slice(nl);
}

// Suggestion hygiene, for every model: where decoded text stops being worth showing because it
// loops (a repeated line, a short cycle of lines, a phrase repeated within a line) or spells out a
// special token. Pure functions over text; the multi-line policy calls them on every line.

/** Lines that legitimately repeat at the end of nested blocks: closers, a closing tag, or a block-ending keyword. */
const CLOSER_LINE = /^(?:[)\]}>;,]+|<\/[\w.:-]*>|end|fi|done|esac)$/;

/** Longest run of lines, in non-blank lines, checked for a cycle. */
const MAX_PERIOD = 4;

/** A non-blank line of the completion: its trimmed text and where it starts in the completion. */
export interface SeenLine {
  text: string;
  start: number;
  /** Leading whitespace width (tabs as 4). */
  indent: number;
}

/**
 * Where a loop over whole lines starts, given the completion's non-blank lines so far (the newest
 * last): the start of the first repeat when the newest lines repeat the ones just before them (one
 * line, or a cycle of up to four lines; indentation ignored, so nested copies count), else -1.
 */
export function lineLoopStart(seen: readonly SeenLine[]): number {
  const n = seen.length;
  for (let k = 1; k <= MAX_PERIOD && 2 * k <= n; k++) {
    let same = true;
    let meaningful = false;
    for (let j = 0; j < k && same; j++) {
      const a = seen[n - 1 - j]!.text;
      same = a === seen[n - 1 - k - j]!.text;
      if (!CLOSER_LINE.test(a)) meaningful = true;
    }
    if (same && meaningful) return seen[n - k]!.start;
  }
  return -1;
}

/** A line that returns a new block: `return function (a) {`, `return (a) => {`, `return {`. */
const RETURNS_BLOCK = /^(?:return|yield)\b.*(?:[{(\[]|=>)$/;
/** Nested `return … {` lines in a row that mean the model is looping (two can be currying). */
const RETURN_CHAIN = 3;

/**
 * Where a runaway nesting starts: the newest lines each return a new block, each nested deeper than
 * the one before (`return function (a) {` / `return (a, a) {` / `return (a, b) => {`): the start of
 * the RETURN_CHAINth such line, else -1. Copies that differ in their arguments escape lineLoopStart.
 */
export function returnChainStart(seen: readonly SeenLine[]): number {
  const n = seen.length;
  if (n < RETURN_CHAIN) return -1;
  for (let j = n - RETURN_CHAIN; j < n; j++) {
    if (!RETURNS_BLOCK.test(seen[j]!.text)) return -1;
    if (j > n - RETURN_CHAIN && seen[j]!.indent <= seen[j - 1]!.indent) return -1;
  }
  return seen[n - 1]!.start;
}

/** Shortest and longest unit of a within-line cycle, and how often it must occur in a row. */
const UNIT_MIN = 2;
const UNIT_MAX = 32;
const CYCLE_REPEATS = 3;
/** A cycle shorter than this in all is not judged (`aaa`, `xyxyxy` can be real code). */
const CYCLE_SPAN = 12;

/**
 * Within one line, where a phrase repeated three times in a row (`self._self._self._`) begins to
 * repeat: the end of its first occurrence, or -1. Units without a letter (`0, 0, 0, `, `----`) are
 * data or rulers, not loops.
 */
export function inlineCycleCut(line: string): number {
  for (let p = 0; p < line.length; p++) {
    for (let len = UNIT_MIN; len <= UNIT_MAX && p + CYCLE_REPEATS * len <= line.length; len++) {
      if (len * CYCLE_REPEATS < CYCLE_SPAN) continue;
      const unit = line.slice(p, p + len);
      if (!/\p{L}/u.test(unit)) continue;
      let r = 1;
      while (r < CYCLE_REPEATS && line.startsWith(unit, p + r * len)) r++;
      if (r === CYCLE_REPEATS) return p + len;
    }
  }
  return -1;
}

/** Text of a special token that decoding let through, by the conventions of the common model families. */
const SPECIAL_TEXT = /<\|[\w.:-]{1,40}\|>|<｜[^｜\n]{1,40}｜>|<\/s>|<(?:fim|file|repo)_[a-z_]{1,20}>/;

/** Where the first special token's text begins in `text`, or -1. */
export function specialTokenIndex(text: string): number {
  const m = SPECIAL_TEXT.exec(text);
  return m ? m.index : -1;
}

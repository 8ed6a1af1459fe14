// Builds the prompt for a completion at the cursor: fill-in-the-middle when the model has a FIM
// template, left-to-right otherwise, within a token budget.
import { HastenError } from './errors';
import { TextTokenizer } from './tokenizer';

export interface PromptBudget {
  /** Tokens the prompt may use. */
  tokens: number;
  /** Largest share of the budget the suffix may take. */
  suffixShare: number;
  /** Share of the budget kept for extra context even when the prefix could fill it (0 or absent: extra context gets only what prefix and suffix leave). */
  extraShare?: number;
}

/**
 * The budget's shares at a model's context: the suffix at most a quarter; extra context keeps a
 * quarter from a context of 1,024 tokens up (the bundled demo models' whole context). Below that the
 * file's own text matters more, and extra context gets only what the prefix and suffix leave.
 */
export function promptShares(contextLength: number): Pick<PromptBudget, 'suffixShare' | 'extraShare'> {
  return { suffixShare: 0.25, extraShare: contextLength >= 1024 ? 0.25 : 0 };
}

/** One chunk of code from elsewhere in the workspace (the extra-context ring's). */
export interface ContextChunk {
  /** Where it came from, e.g. a workspace-relative path. */
  source: string;
  text: string;
}

/** Code from other files for the prompt, and where the cursor's file sits. */
export interface PromptContext {
  /** Newest first: the newest is placed nearest the cursor, and is the last to be left out. */
  chunks: readonly ContextChunk[];
  /** The cursor's file, workspace-relative: a repository-context format names it after the other files. */
  path?: string;
  /** The workspace's name: a repository-context format's first line. */
  repo?: string;
  /** A line comment (`//`, `#`): for families without a repository-context format, chunks go in as commented code. */
  comment?: string;
}

/** Characters kept per token of budget before tokenising: generous, and bounds the work on huge files. */
const CHARS_PER_TOKEN = 8;
/** Characters of a too-long prefix are cut in multiples of this, so its start stays put while the user types. */
const CUT_CHARS = 256;

/**
 * Tokens of a too-long prefix are cut in multiples of an eighth of the room: while the user types,
 * the prompt's start (and so the KV cache of everything before the cursor) stays the same for that
 * many new tokens, instead of shifting by one token a keystroke and costing a whole prefill.
 */
export function cutBlock(room: number): number {
  return Math.max(8, Math.floor(room / 8));
}

/** How many of `have` to drop to fit `keep`, rounded up to a multiple of `block` (never more than `have`). */
function dropCount(have: number, keep: number, block: number): number {
  if (have <= keep) return 0;
  return Math.min(have, Math.ceil((have - keep) / block) * block);
}

export interface Prompt {
  ids: number[];
  /**
   * Token healing: the text of the prefix's last token, taken off the prompt. The cursor rarely
   * sits on a token boundary the model saw in training (a line start's "\n" is normally one token
   * with the next line's indentation; a word cut in half is normally one token), so the prompt ends
   * one token early and the first generated token must start with this text, which is then not shown.
   * Empty when nothing was taken off.
   */
  heal: string;
  /** A 'middle' FIM prompt's anchor: pass it as the next prompt's `last` (`buildPrompt`). */
  anchor?: Anchor;
}

/** Whether `text` is only whitespace and closing brackets (a suffix that carries nothing a FIM prompt needs). */
export function onlyClosers(text: string): boolean {
  return /^[\s)\]};,]*$/.test(text);
}

/** Where a FIM prompt puts the cursor line's text before the cursor: in the middle (after the suffix) or at the prefix's end. */
export type CursorLine = 'middle' | 'prefix';

/** Where the middle of a 'middle' prompt started: what the next prompt keeps in place while the anchor holds. */
export interface Anchor {
  /** The prefix up to the anchor line's start: the prompt's text before the suffix. */
  lines: string;
  /** The suffix it was placed before. */
  suffix: string;
}

/**
 * Most characters from the anchor line's start to the cursor before the anchor moves to the cursor's
 * line. A move feeds the block (now before the suffix), the suffix and the line again (up to ~270 Qwen
 * tokens at the default windows), about once every 512 characters typed; a middle of the cursor line
 * alone fed the suffix at every new line. A larger bound moves less often but each move feeds more, and
 * the model is asked to continue a longer middle it did not write.
 */
export const ANCHOR_CHARS = 512;

/**
 * Where the middle starts in `prefix` (a character index at a line start): the last prompt's anchor
 * while it holds — the same suffix (the cursor did not leave the text after it, nor was that text
 * edited), the same text before the anchor (no edit above it, no jump, the same prefix window), and at
 * most `most` characters from the anchor to the cursor — otherwise the cursor line's start.
 */
export function middleStart(prefix: string, suffix: string, last: Anchor | undefined, most = ANCHOR_CHARS): number {
  if (last && suffix === last.suffix && prefix.length - last.lines.length <= most && prefix.startsWith(last.lines)) return last.lines.length;
  return prefix.lastIndexOf('\n') + 1;
}

/**
 * Encodes prefix, suffix and extra context within the budget. The suffix takes at most
 * `suffixShare` of the room and keeps its start; extra context is kept up to `extraShare` of it; the
 * prefix keeps its end (nearest the cursor) in the rest; extra context then also gets whatever the
 * prefix leaves (counted in whole cut blocks), whole chunks only, newest first. A prefix that does
 * not fit is cut at its start in blocks (`cutBlock`), so consecutive keystrokes share the prompt up to
 * the cursor. With `heal`, the prefix's last token comes off the prompt and its text is returned (see
 * `Prompt.heal`).
 *
 * Extra context goes in the family's repository format when it has one (Qwen2.5-Coder:
 * `<|repo_name|>repo⏎<|file_sep|>path⏎code…<|file_sep|>cursor's path⏎` before `<|fim_prefix|>`), else
 * as commented code at the start of the prefix.
 *
 * `cursorLine` 'middle' (a FIM prompt only) puts the text from an anchor line's start to the cursor
 * after the middle token, as llama.vscode and llama.cpp's infill do with the cursor line: `<PRE>lines
 * before the anchor<SUF>suffix<MID>anchor line … line so far`. The anchor is the cursor's line unless
 * `last` (the previous prompt's, `Prompt.anchor`) still holds with at most `anchorChars` from it to the
 * cursor (`middleStart`; 0: always the cursor's line): then typing on, across lines too, changes only
 * the prompt's tail, so the KV cache of the lines before and of the suffix is reused and a keystroke
 * feeds only its new tokens; the suffix is fed again only when the anchor moves.
 * With 'prefix' the suffix follows the cursor and is fed again at every keystroke. The model sees the
 * same text either way: the middle it writes starts at the anchor line's start instead of at the cursor.
 */
export function buildPrompt(tk: TextTokenizer, prefix: string, suffix: string, budget: PromptBudget, heal = false, context?: PromptContext, cursorLine: CursorLine = 'prefix', last?: Anchor, anchorChars = ANCHOR_CHARS): Prompt {
  if (budget.tokens < 4) {
    throw new HastenError('context-overflow', `Only ${budget.tokens} tokens are left for the prompt.`, 'Lower hasten.maxTokens or use a model with a longer context.');
  }
  // Nothing after the cursor but whitespace and closing brackets (the end of a file, where the editor has
  // closed the brace just opened): a plain continuation. A FIM prompt with such a suffix asks where the
  // middle ends, and the bundled demo target answers at once with an empty middle (nothing after
  // `{\n  ` before `\n}`); plain text ends only where documents end, and the suggestion is still cut
  // where it would re-type the suffix or close the block (src/completion/hygiene.ts).
  const maxChars = budget.tokens * CHARS_PER_TOKEN;
  const cut = dropCount(prefix.length, maxChars, CUT_CHARS);
  const kept = prefix.slice(cut);
  const lineInMiddle = cursorLine === 'middle' && tk.fim !== undefined && !onlyClosers(suffix);
  const split = lineInMiddle ? Math.max(0, middleStart(prefix, suffix, last, anchorChars) - cut) : 0;
  const anchor = lineInMiddle ? { anchor: { lines: prefix.slice(0, cut + split), suffix } } : {};
  // With the anchor's lines in the middle, the lines before them and the middle so far are encoded apart
  // (each as its own text, as the prompt holds them), and only the middle is healed.
  const before = split > 0 ? tk.encode(kept.slice(0, split)) : [];
  const { ids: line, heal: healed } = encodePrefix(tk, kept.slice(split), heal);
  const pre = [...before, ...line];
  // (With nothing to continue, e.g. an empty prefix or a vocabulary that encodes nothing, FIM's own tokens make the prompt.)
  const fim = onlyClosers(suffix) && pre.length > 0 ? undefined : tk.fim;
  const extra = extraParts(tk, context, budget.tokens);
  const room = budget.tokens - (fim ? 3 : 0);
  const sufMost = Math.floor(room * budget.suffixShare);
  // The suffix keeps at most its share: only that many tokens' worth of characters is encoded.
  const suf = fim ? tk.encode(suffix.slice(0, (sufMost + 1) * CHARS_PER_TOKEN)) : [];
  const sufTokens = Math.min(suf.length, sufMost);
  const keptRoom = Math.floor(room * (budget.extraShare ?? 0));
  const block = cutBlock(room);
  const preIds = pre.slice(dropCount(pre.length, room - sufTokens - fitExtra(extra, keptRoom).length, block));
  // The prefix's room is counted in whole blocks, so extra context (which comes first) changes only every
  // `block` tokens of typing, not with each key: the prompt up to the cursor, and its KV cache, stay the same.
  const preRoom = Math.min(room - sufTokens, Math.ceil(preIds.length / block) * block);
  const extraIds = fitExtra(extra, Math.max(keptRoom, room - sufTokens - preRoom));
  if (!fim) return { ids: [...extraIds, ...preIds], heal: healed };
  // The middle's kept tokens (all of them unless it alone overflows the prefix's room) go after the middle token.
  const inMiddle = lineInMiddle ? Math.min(line.length, preIds.length) : 0;
  const middle = [fim.suffixId, ...suf.slice(0, sufTokens), fim.middleId, ...preIds.slice(preIds.length - inMiddle)];
  const lines = preIds.slice(0, preIds.length - inMiddle);
  if (extra.repo) return { ids: [...extraIds, fim.prefixId, ...lines, ...middle], heal: healed, ...anchor };
  return { ids: [fim.prefixId, ...extraIds, ...lines, ...middle], heal: healed, ...anchor };
}

/** The prefix's ids, its last token taken off for healing when asked (see `Prompt.heal`). */
function encodePrefix(tk: TextTokenizer, prefix: string, heal: boolean): Prompt {
  const pre = tk.encode(prefix);
  if (!heal || pre.length < 2) return { ids: pre, heal: '' };
  const text = tk.tokenText(pre[pre.length - 1]!);
  // A token holding part of a multi-byte character decodes to U+FFFD: no prefix test can match it.
  if (text.length === 0 || text.includes('\uFFFD')) return { ids: pre, heal: '' };
  pre.pop();
  // Where the training tokenization would cut inside that token (whitespace before a word keeps
  // its last space for the word: "\n    return" is "\n   " + " return"), keep the part before
  // the cut, so only the rest must start the first token. A probe character stands for the word.
  let covered = 0;
  for (const id of tk.encode(text + 'a')) {
    const piece = tk.tokenText(id);
    if (covered + piece.length >= text.length || !text.startsWith(piece, covered)) break;
    pre.push(id);
    covered += piece.length;
  }
  return { ids: pre, heal: text.slice(covered) };
}

/** Extra context as ids: what opens and closes it (repository format only) and each chunk, newest first. */
interface ExtraParts {
  repo: boolean;
  head: number[];
  chunks: number[][];
  tail: number[];
}

/** Encodes the extra context in the family's format; chunks longer than `most` tokens could never fit and are not encoded whole. */
export function extraParts(tk: TextTokenizer, context: PromptContext | undefined, most: number): ExtraParts {
  const repo = tk.fim?.repo;
  const chunks = context?.chunks ?? [];
  const withNewline = (t: string) => (t.endsWith('\n') ? t : `${t}\n`);
  const encode = (t: string) => tk.encode(t.slice(0, most * CHARS_PER_TOKEN));
  if (repo) {
    return {
      repo: true,
      head: [repo.nameId, ...tk.encode(`${context?.repo ?? 'workspace'}\n`)],
      chunks: chunks.map((c) => [repo.fileSepId, ...encode(`${c.source}\n${withNewline(c.text)}`)]),
      tail: [repo.fileSepId, ...tk.encode(`${context?.path ?? 'untitled'}\n`)],
    };
  }
  const c = context?.comment ?? '//';
  const commented = (ch: ContextChunk) => `${c} ${ch.source}\n${ch.text.split('\n').map((l) => `${c} ${l}`).join('\n')}\n`;
  return { repo: false, head: [], chunks: chunks.map((ch) => encode(commented(ch))), tail: tk.encode('\n') };
}

/** The chunks that fit in `room` tokens with their head and tail, newest first, skipping any that do not fit; in prompt order (oldest first). */
export function fitExtra(p: ExtraParts, room: number): number[] {
  let used = p.head.length + p.tail.length;
  const taken: number[][] = [];
  for (const c of p.chunks) {
    if (used + c.length > room) continue;
    taken.push(c);
    used += c.length;
  }
  return taken.length === 0 ? [] : [...p.head, ...taken.reverse().flat(), ...p.tail];
}

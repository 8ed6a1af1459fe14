// Builds the prompt for a completion at the cursor: fill-in-the-middle when the model has a FIM
// template, left-to-right otherwise, within a token budget.
import { HastenError } from './errors';
import { TextTokenizer } from './tokenizer';

export interface PromptBudget {
  /** Tokens the prompt may use. */
  tokens: number;
  /** Largest share of the budget the suffix may take. */
  suffixShare: number;
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
}

/**
 * Encodes prefix and suffix within the budget: the prefix keeps its end (nearest the cursor), the
 * suffix its start. Unused suffix budget goes to the prefix. A prefix that does not fit is cut at its
 * start in blocks (`cutBlock`), so consecutive keystrokes share the prompt up to the cursor. With
 * `heal`, the prefix's last token comes off the prompt and its text is returned (see `Prompt.heal`).
 */
export function buildPrompt(tk: TextTokenizer, prefix: string, suffix: string, budget: PromptBudget, heal = false): Prompt {
  if (budget.tokens < 4) {
    throw new HastenError('context-overflow', `Only ${budget.tokens} tokens are left for the prompt.`, 'Lower hasten.maxTokens or use a model with a longer context.');
  }
  const fim = tk.fim;
  const maxChars = budget.tokens * CHARS_PER_TOKEN;
  const pre = tk.encode(prefix.slice(dropCount(prefix.length, maxChars, CUT_CHARS)));
  let healed = '';
  if (heal && pre.length >= 2) {
    const text = tk.tokenText(pre[pre.length - 1]!);
    // A token holding part of a multi-byte character decodes to U+FFFD: no prefix test can match it.
    if (text.length > 0 && !text.includes('\uFFFD')) {
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
      healed = text.slice(covered);
    }
  }
  if (!fim) return { ids: pre.slice(dropCount(pre.length, budget.tokens, cutBlock(budget.tokens))), heal: healed };
  const room = budget.tokens - 3;
  const suf = tk.encode(suffix.slice(0, maxChars));
  const sufTokens = Math.min(suf.length, Math.floor(room * budget.suffixShare));
  const preIds = pre.slice(dropCount(pre.length, room - sufTokens, cutBlock(room)));
  return { ids: [fim.prefixId, ...preIds, fim.suffixId, ...suf.slice(0, sufTokens), fim.middleId], heal: healed };
}

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

/**
 * Encodes prefix and suffix within the budget: the prefix keeps its end (nearest the cursor), the
 * suffix its start. Unused suffix budget goes to the prefix.
 */
export function buildPrompt(tk: TextTokenizer, prefix: string, suffix: string, budget: PromptBudget): number[] {
  if (budget.tokens < 4) {
    throw new HastenError('context-overflow', `Only ${budget.tokens} tokens are left for the prompt.`, 'Lower hasten.maxTokens or use a model with a longer context.');
  }
  const fim = tk.fim;
  const maxChars = budget.tokens * CHARS_PER_TOKEN;
  const pre = tk.encode(prefix.slice(-maxChars));
  if (!fim) return pre.slice(-budget.tokens);
  const room = budget.tokens - 3;
  const suf = tk.encode(suffix.slice(0, maxChars));
  const sufTokens = Math.min(suf.length, Math.floor(room * budget.suffixShare));
  const preTokens = Math.min(pre.length, room - sufTokens);
  const preIds = preTokens > 0 ? pre.slice(-preTokens) : [];
  return [fim.prefixId, ...preIds, fim.suffixId, ...suf.slice(0, sufTokens), fim.middleId];
}

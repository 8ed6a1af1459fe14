/** What the status bar shows: a switch over the health state, plus the last completion's figures. */
export type Health =
  | { kind: 'disabled' }
  | { kind: 'loading'; model: string }
  | { kind: 'ready'; model: string; provider: string; providerReason?: string; draft: string | null; warnings: readonly string[]; context?: number }
  | { kind: 'error'; message: string };

/** The speed figures of the completion the user asked for or saw last (the one the visualiser follows). */
export interface LastCompletion {
  id: number;
  strategy: string;
  tokens: number;
  tokensPerSecond: number;
  /** Share of drafted tokens accepted; null when nothing was drafted (autoregressive). */
  acceptance: number | null;
}

export interface StatusView {
  readonly text: string;
  readonly tooltip: string;
  /** A theme colour for the background: only error and warning colours are allowed there. */
  readonly background?: 'statusBarItem.errorBackground' | 'statusBarItem.warningBackground';
}

/** The status bar item's id; in the workbench DOM it becomes `hasten-dev.hasten.hasten.status`. */
export const STATUS_ITEM_ID = 'hasten.status';

const CLICK = 'Click for Hasten commands.';

/** Fewer tokens than this give no meaningful speed (one step can look like thousands per second). */
export const MIN_TOKENS_FOR_SPEED = 4;

/** The status bar's figures, each with its unit: ` · 173 tok/s · 13% accepted`. */
export function figures(last: LastCompletion | undefined): string {
  if (!last) return '';
  if (last.tokens < MIN_TOKENS_FOR_SPEED) return ` · ${last.tokens} tok`;
  const acc = last.acceptance === null ? '' : ` · ${Math.round(100 * last.acceptance)}% accepted`;
  return ` · ${Math.round(last.tokensPerSecond)} tok/s${acc}`;
}

/** Maps a health state (and the last completion) to what the status bar shows. */
export function statusView(health: Health, last?: LastCompletion): StatusView {
  switch (health.kind) {
    case 'disabled':
      return { text: '$(circle-slash) Hasten', tooltip: `Hasten: completions are off (setting hasten.enable). ${CLICK}` };
    case 'loading':
      return { text: '$(sync~spin) Hasten', tooltip: `Hasten: loading ${health.model}… ${CLICK}` };
    case 'error':
      return { text: '$(error) Hasten', tooltip: `Hasten: no model could be loaded. ${health.message} ${CLICK}`, background: 'statusBarItem.errorBackground' };
    case 'ready': {
      const lines = [
        `Hasten: ${health.model}${health.draft ? ` + draft ${health.draft}` : ''} on ${health.provider}${health.context ? `, context ${health.context.toLocaleString('en-US')} tokens (hasten.contextTokens)` : ''}.`,
        ...(health.providerReason ? [`Execution provider ${health.provider}: ${health.providerReason} (hasten.executionProvider).`] : []),
        last
          ? `Completion #${last.id} (${last.strategy}): ${last.tokens} tokens, ${last.tokensPerSecond.toFixed(1)} tok/s${last.acceptance === null ? ', nothing drafted' : `, ${(100 * last.acceptance).toFixed(0)}% of drafted tokens accepted`}. The visualiser shows the same completion.`
          : 'No completion yet with this model.',
        ...health.warnings,
        CLICK,
      ];
      return {
        text: `$(${health.warnings.length ? 'warning' : 'zap'}) Hasten${figures(last)}`,
        tooltip: lines.join('\n'),
        ...(health.warnings.length ? { background: 'statusBarItem.warningBackground' as const } : {}),
      };
    }
  }
}

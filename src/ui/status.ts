/** The health states the status bar can show. Later issues add loading, error and speed states. */
export type Health = { kind: 'disabled' } | { kind: 'enabled' };

export interface StatusView {
  readonly text: string;
  readonly tooltip: string;
}

/** The status bar item's id; in the workbench DOM it becomes `hasten-dev.hasten.hasten.status`. */
export const STATUS_ITEM_ID = 'hasten.status';

/** Maps a health state to what the status bar shows. */
export function statusView(health: Health): StatusView {
  switch (health.kind) {
    case 'disabled':
      return { text: '$(circle-slash) Hasten', tooltip: 'Hasten: completions are off (setting hasten.enable). Click to show the log.' };
    case 'enabled':
      return { text: '$(zap) Hasten', tooltip: 'Hasten: active. Click to show the log.' };
  }
}

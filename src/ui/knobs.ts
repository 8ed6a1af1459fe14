// The numbers "Hasten: Tune Decoding" offers, and their validation (no vscode import: unit-tested).

export interface Knob {
  key: string;
  label: string;
  min: number;
  max: number;
  /** Whole numbers only (all but the exit threshold). */
  integer: boolean;
  what: string;
}

/** The numbers Tune offers; each is a setting, validated as an integer in range. */
export const KNOBS: readonly Knob[] = [
  { key: 'draftLength', label: 'Draft length', min: 1, max: 16, integer: true, what: 'tokens drafted per step before verification (adapts to acceptance)' },
  { key: 'tree.width', label: 'Tree width', min: 1, max: 8, integer: true, what: 'alternatives at the first depth of a token tree' },
  { key: 'tree.depth', label: 'Tree depth', min: 1, max: 16, integer: true, what: 'depths of a token tree' },
  { key: 'tree.maxNodes', label: 'Tree nodes', min: 1, max: 128, integer: true, what: 'most draft nodes verified in one pass' },
  { key: 'exitThreshold', label: 'Exit threshold', min: 0, max: 1, integer: false, what: 'early exit: confidence at which a token leaves before the last layer (the learned classifier\'s where the model ships one, else softmax top-1; 1 never exits early)' },
  { key: 'maxTokens', label: 'Max tokens', min: 1, max: 512, integer: true, what: 'tokens per completion' },
];

/** Checks a Tune input: the error message to show, or undefined when it is valid. */
export function validateKnob(knob: Pick<Knob, 'min' | 'max' | 'integer'>, value: string): string | undefined {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n)) return knob.integer ? 'Enter a whole number.' : 'Enter a number.';
  if (knob.integer && !Number.isInteger(n)) return 'Enter a whole number.';
  if (n < knob.min || n > knob.max) return `Enter a number from ${knob.min} to ${knob.max}.`;
  return undefined;
}


// Select Model's rows, grouped by role: completion models first, then each target's drafts under
// "Draft for <target>". Pure, so a unit test can read what the picker offers.
import type { BundledModel } from '../completion/engineHost';

/** One row of the picker: a group heading, or a model that sets `setting` to `value` when picked. */
export type ModelRow =
  | { kind: 'separator'; label: string }
  | { kind: 'model'; label: string; description: string; detail?: string; setting: 'model' | 'draftModel'; value: string; current: boolean };

/** What is in use now: the settings' values and the folders they resolve to. */
export interface InUse {
  /** hasten.model ('' = the bundled default). */
  model: string;
  /** hasten.draftModel ('' = the target's default draft, 'none' = no draft model). */
  draftModel: string;
  /** Name of the bundled default target. */
  defaultTarget: string;
  /** Name of the bundled default draft of that target ('' when it has none). */
  defaultDraft: string;
  /** Whether a bundled draft has the target's vocabulary (absent: every draft is offered); others are not offered. */
  pairs?: (draftName: string) => boolean;
}

const size = (m: BundledModel) => `${(m.params / 1e6).toFixed(1)}M parameters`;

/** The picker's rows for the bundled models. */
export function modelRows(models: readonly BundledModel[], use: InUse): ModelRow[] {
  const targets = models.filter((m) => m.role !== 'draft');
  const drafts = models.filter((m) => m.role === 'draft' && (use.pairs?.(m.name) ?? true));
  const target = use.model === '' ? use.defaultTarget : use.model;
  const rows: ModelRow[] = [{ kind: 'separator', label: 'Completion models' }];
  for (const m of targets) {
    rows.push({
      kind: 'model', label: m.name, setting: 'model', value: m.name === use.defaultTarget ? '' : m.name, current: m.name === target,
      description: `${size(m)}${m.name === use.defaultTarget ? ' · bundled default' : ''}`,
    });
  }
  const fits = new Map<string, BundledModel[]>();
  for (const d of drafts) for (const t of d.draftFor.length ? d.draftFor : ['any model with the same tokenizer']) fits.set(t, [...(fits.get(t) ?? []), d]);
  for (const [t, list] of fits) {
    rows.push({ kind: 'separator', label: `Draft for ${t}` });
    for (const d of list) {
      const inUse = t === target && (use.draftModel === d.name || (use.draftModel === '' && d.name === use.defaultDraft));
      rows.push({
        kind: 'model', label: d.name, setting: 'draftModel', value: d.name, current: inUse,
        description: `${size(d)} · draft model`,
        detail: `Proposes tokens for ${t} to verify (draft-model and token-tree strategies); not a completion model on its own.`,
      });
    }
  }
  return rows;
}

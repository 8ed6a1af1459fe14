// Select Model's rows: completion models first, drafts grouped under "Draft for <target>", read from
// the bundled manifest through EngineHost (the same list the picker gets).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { EngineHost } from '../../src/completion/engineHost';
import { draftsFor } from '../../src/engine';
import { modelRows } from '../../src/ui/modelItems';

const MODELS = path.resolve(__dirname, '..', '..', 'models');
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const host = new EngineHost(MODELS, quiet as never, () => Promise.reject(new Error('not loaded in this test')));

test('the bundled models are grouped by role: the target as a completion model, the drafts under "Draft for hasten-target"', () => {
  const rows = modelRows(host.bundledModels(), { model: '', draftModel: '', defaultTarget: 'hasten-target', defaultDraft: 'hasten-draft-m' });
  const outline = rows.map((r) => (r.kind === 'separator' ? `-- ${r.label}` : `${r.current ? '* ' : ''}${r.label} -> ${r.setting}=${JSON.stringify(r.value)}`));
  assert.deepEqual(outline, [
    '-- Completion models',
    '* hasten-target -> model=""',
    '-- Draft for hasten-target',
    '* hasten-draft-m -> draftModel="hasten-draft-m"',
    'hasten-draft-s -> draftModel="hasten-draft-s"',
  ]);
  const draft = rows.find((r) => r.kind === 'model' && r.label === 'hasten-draft-s');
  assert.ok(draft?.kind === 'model' && /draft model/.test(draft.description) && /not a completion model on its own/.test(draft.detail ?? ''));
  // The masked LM (Mask-Predict's model) is neither a completion model nor a draft.
  assert.ok(!rows.some((r) => r.label === 'hasten-cmlm'));
});

test('the rows mark what is in use: a chosen draft, no draft, a target on disk', () => {
  const models = host.bundledModels();
  const current = (rows: ReturnType<typeof modelRows>) => rows.filter((r) => r.kind === 'model' && r.current).map((r) => r.label);
  assert.deepEqual(current(modelRows(models, { model: '', draftModel: 'hasten-draft-s', defaultTarget: 'hasten-target', defaultDraft: 'hasten-draft-m' })), ['hasten-target', 'hasten-draft-s']);
  assert.deepEqual(current(modelRows(models, { model: '', draftModel: 'none', defaultTarget: 'hasten-target', defaultDraft: '' })), ['hasten-target']);
  assert.deepEqual(current(modelRows(models, { model: '/models/qwen', draftModel: '', defaultTarget: 'hasten-target', defaultDraft: '' })), []);
});

test('drafts are offered only for a target with their vocabulary (checked by draftsFor, as the picker does)', () => {
  const models = host.bundledModels();
  const pairs = (targetDir: string) => {
    const ok = new Set(draftsFor(targetDir, models.map((m) => host.resolveModel(m.name))).map((d) => path.basename(d)));
    return (name: string) => ok.has(name);
  };
  const drafts = (rows: ReturnType<typeof modelRows>) => rows.filter((r) => r.kind === 'model' && r.setting === 'draftModel').map((r) => r.label);
  const use = { draftModel: '', defaultTarget: 'hasten-target', defaultDraft: '' };
  assert.deepEqual(drafts(modelRows(models, { ...use, model: '', pairs: pairs(host.resolveModel('')) })), ['hasten-draft-m', 'hasten-draft-s']);
  // A Qwen2.5-tokenizer target: no bundled draft shares its vocabulary, so none is offered (nor its group).
  const qwen = path.resolve(__dirname, '..', '..', 'node_modules', '@lenml', 'tokenizer-qwen2_5', 'models');
  const rows = modelRows(models, { ...use, model: qwen, pairs: pairs(qwen) });
  assert.deepEqual(drafts(rows), []);
  assert.ok(!rows.some((r) => r.kind === 'separator' && r.label.startsWith('Draft for')));
});

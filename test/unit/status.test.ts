import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusView } from '../../src/ui/status';

const ready = { kind: 'ready' as const, model: 'hasten-target', provider: 'cpu', draft: 'hasten-draft-m', warnings: [] };

test('status bar says when completions are off and names the setting', () => {
  const view = statusView({ kind: 'disabled' });
  assert.match(view.text, /circle-slash/);
  assert.match(view.tooltip, /hasten\.enable/);
});

test('each health state has its own icon; error and warning states use theme colours', () => {
  const views = [statusView({ kind: 'disabled' }), statusView({ kind: 'loading', model: 'm' }), statusView(ready), statusView({ kind: 'error', message: 'x' })];
  assert.equal(new Set(views.map((v) => v.text)).size, 4);
  assert.match(views[1]!.text, /sync~spin/);
  assert.match(views[2]!.text, /\$\(zap\)/);
  assert.equal(views[3]!.background, 'statusBarItem.errorBackground');
  assert.equal(views[2]!.background, undefined);
  const warned = statusView({ ...ready, warnings: ['Execution provider "cuda" is not available; using cpu.'] });
  assert.equal(warned.background, 'statusBarItem.warningBackground');
  assert.match(warned.tooltip, /cuda/);
});

test('ready shows the last completion speed and acceptance; autoregressive shows no acceptance', () => {
  const spec = statusView(ready, { strategy: 'token-tree', tokensPerSecond: 123.4, acceptance: 0.625 });
  assert.match(spec.text, /123 tok\/s 63%/);
  assert.match(spec.tooltip, /token-tree, 123\.4 tok\/s, 63% of drafted tokens accepted/);
  const ar = statusView(ready, { strategy: 'autoregressive', tokensPerSecond: 50, acceptance: null });
  assert.match(ar.text, /50 tok\/s$/);
});

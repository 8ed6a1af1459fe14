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

test('ready shows the followed completion\'s speed and acceptance, each labelled; autoregressive shows no acceptance', () => {
  const spec = statusView(ready, { id: 18, strategy: 'token-tree', tokens: 24, tokensPerSecond: 173.4, acceptance: 0.13 });
  assert.equal(spec.text, '$(zap) Hasten · 173 tok/s · 13% accepted');
  assert.match(spec.tooltip, /Completion #18 \(token-tree\): 24 tokens, 173\.4 tok\/s, 13% of drafted tokens accepted/);
  const ar = statusView(ready, { id: 3, strategy: 'autoregressive', tokens: 10, tokensPerSecond: 50, acceptance: null });
  assert.equal(ar.text, '$(zap) Hasten · 50 tok/s');
  // Too few tokens for a speed: the count only. No completion yet (or a model just switched): no figures.
  assert.equal(statusView(ready, { id: 4, strategy: 'auto:prompt-lookup', tokens: 2, tokensPerSecond: 4000, acceptance: 1 }).text, '$(zap) Hasten · 2 tok');
  assert.equal(statusView(ready).text, '$(zap) Hasten');
  assert.match(statusView(ready).tooltip, /No completion yet with this model/);
});

test('ready names the context the model runs at and the setting that sets it', () => {
  assert.match(statusView({ ...ready, context: 2048 }).tooltip, /^Hasten: hasten-target \+ draft hasten-draft-m on cpu, context 2,048 tokens \(hasten\.contextTokens\)\./);
  assert.match(statusView(ready).tooltip, /^Hasten: hasten-target \+ draft hasten-draft-m on cpu\./);
});

test('the tooltip says why the model runs on its provider (auto\'s choice), naming the setting', () => {
  const view = statusView({ ...ready, providerReason: 'auto: no hardware GPU found on the PCI bus (only a software Vulkan adapter, lavapipe/llvmpipe: slower than the CPU provider)' });
  assert.match(view.tooltip, /^Hasten: hasten-target \+ draft hasten-draft-m on cpu\.\nExecution provider cpu: auto: no hardware GPU found on the PCI bus \(only a software Vulkan adapter.*\) \(hasten\.executionProvider\)\.\n/);
  assert.doesNotMatch(statusView(ready).tooltip, /hasten\.executionProvider/);
});

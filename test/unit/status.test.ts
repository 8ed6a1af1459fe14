import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusView } from '../../src/ui/status';

test('status bar says when completions are off and names the setting', () => {
  const view = statusView({ kind: 'disabled' });
  assert.match(view.text, /Hasten/);
  assert.match(view.tooltip, /hasten\.enable/);
});

test('status bar shows an enabled state that differs from the disabled one', () => {
  assert.notEqual(statusView({ kind: 'enabled' }).text, statusView({ kind: 'disabled' }).text);
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeSettings, readConfig, treeWidths } from '../../src/config';
import { DEFAULT_DECODE } from '../../src/engine';
import { strategyEnum } from '../../scripts/strategies';
import { KNOBS, validateKnob } from '../../src/ui/knobs';

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, { type: string; default: unknown; enum?: string[]; enumDescriptions?: string[]; scope?: string; minimum?: number; maximum?: number }> } };
};
const props = manifest.contributes.configuration.properties;

test('the strategy setting lists exactly the engine strategies (run tsx scripts/strategies.ts after adding one)', () => {
  const want = strategyEnum();
  assert.deepEqual(props['hasten.strategy']!.enum, want.enum);
  assert.deepEqual(props['hasten.strategy']!.enumDescriptions, want.enumDescriptions);
});

test('every setting has a type, a scope, and enum descriptions for its choices', () => {
  for (const [key, p] of Object.entries(props)) {
    assert.ok(p.type, key);
    assert.ok(p.scope, `${key} needs a scope`);
    if (p.enum) assert.equal(p.enumDescriptions?.length, p.enum.length, `${key} describes each choice`);
  }
});

test('the default settings give the engine default tree and exit threshold', () => {
  assert.deepEqual(treeWidths(3, 6), DEFAULT_DECODE.treeWidths);
  const d = readConfig({ get: <T>(_k: string, v: T) => v }).decode;
  assert.deepEqual(decodeSettings(d), { draftLength: DEFAULT_DECODE.draftLength, treeWidths: DEFAULT_DECODE.treeWidths, maxNodes: DEFAULT_DECODE.maxNodes, exitThreshold: DEFAULT_DECODE.exitThreshold });
  assert.deepEqual(treeWidths(1, 2), [1, 1]);
});

test('out-of-range and unknown values fall back or are clamped', () => {
  const cfg = readConfig({ get: <T>(k: string, d: T) => (({ strategy: 'warp-drive', maxTokens: 100000, debounceMs: -5, executionProvider: 'tpu', 'tree.width': 2.6 }) as Record<string, unknown>)[k] as T ?? d });
  assert.equal(cfg.decode.strategy, 'auto');
  assert.equal(cfg.decode.maxTokens, 512);
  assert.equal(cfg.completion.debounceMs, 0);
  assert.equal(cfg.engine.executionProvider, 'auto');
  assert.equal(cfg.decode.treeWidth, 3);
});

test('tune validates whole numbers in range, and its knobs match the settings bounds', () => {
  const k = { min: 1, max: 16, integer: true };
  assert.equal(validateKnob(k, '4'), undefined);
  assert.match(validateKnob(k, '0')!, /1 to 16/);
  assert.match(validateKnob(k, '2.5')!, /whole number/);
  assert.match(validateKnob(k, 'abc')!, /whole number/);
  assert.match(validateKnob(k, '')!, /whole number/);
  const threshold = { min: 0, max: 1, integer: false };
  assert.equal(validateKnob(threshold, '0.85'), undefined);
  assert.match(validateKnob(threshold, '1.5')!, /0 to 1/);
  assert.match(validateKnob(threshold, 'x')!, /Enter a number/);
  for (const knob of KNOBS) {
    const p = props[`hasten.${knob.key}`];
    assert.ok(p, knob.key);
    assert.equal(p.minimum, knob.min, knob.key);
    assert.equal(p.maximum, knob.max, knob.key);
  }
});

// Fuzzing the configuration layer: 600 settings objects (deterministic seeds) with values of the
// wrong type, out of range, absurd or missing, read the way VS Code hands them over (any JSON value
// can come from a hand-edited settings.json). Every case must give a config inside package.json's
// schema, keep every valid value as written, and report each unusable value naming its setting.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeSettings, readConfig, type HastenConfig } from '../../src/config';
import { below, pick, rng } from './helpers/random';

interface Schema {
  type: 'boolean' | 'string' | 'integer' | 'number';
  default: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
}
const props = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, Schema> } } })
  .contributes.configuration.properties;
const KEYS = Object.keys(props).map((k) => k.replace(/^hasten\./, ''));
const CASES = 600;

/** Where each setting lands in the typed config. */
function valueOf(cfg: HastenConfig, key: string): unknown {
  const at: Record<string, unknown> = {
    enable: cfg.enable, strategy: cfg.decode.strategy, model: cfg.engine.model, draftModel: cfg.engine.draftModel, executionProvider: cfg.engine.executionProvider,
    threads: cfg.engine.threads, contextTokens: cfg.engine.contextTokens, onnxDtype: cfg.engine.onnxDtype, maxTokens: cfg.decode.maxTokens, multiline: cfg.completion.multiline, maxLines: cfg.completion.maxLines, debounceMs: cfg.completion.debounceMs,
    prefetch: cfg.completion.prefetch, temperature: cfg.decode.temperature, draftLength: cfg.decode.draftLength, 'tree.width': cfg.decode.treeWidth, 'tree.depth': cfg.decode.treeDepth,
    'tree.maxNodes': cfg.decode.treeMaxNodes, exitThreshold: cfg.decode.exitThreshold, 'context.prefixChars': cfg.completion.prefixChars, 'context.suffixChars': cfg.completion.suffixChars, 'context.cursorLine': cfg.completion.cursorLine,
    'context.ringChunks': cfg.context.ringChunks, 'context.chunkLines': cfg.context.chunkLines, 'context.extraChars': cfg.context.extraChars, 'retrieval.maxFileChars': cfg.context.retrievalMaxFileChars,
    'hub.endpoint': cfg.hub.endpoint,
  };
  assert.ok(key in at, `the fuzz test maps hasten.${key}`);
  return at[key];
}

/** Whether `v` is a value the schema accepts as it is. */
function valid(s: Schema, v: unknown): boolean {
  switch (s.type) {
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string' && (!s.enum || s.enum.includes(v));
    case 'integer':
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) && (s.type === 'number' || Number.isInteger(v)) && v >= (s.minimum ?? -Infinity) && v <= (s.maximum ?? Infinity);
  }
}

/** A value for a setting: mostly hostile, sometimes fine. */
function mutant(r: () => number, s: Schema): unknown {
  const big = 'x'.repeat(below(r, 3) === 0 ? 100_000 : 5);
  const choices: unknown[] = [
    null, true, false, 0, -1, 1, 2.5, -0.0001, 1e9, -1e9, 2 ** 53, 1e308, -1e308, '', ' ', '12', 'true', 'NaN', big, [], [1, 2], {}, { value: 1 },
    s.default, s.minimum ?? 0, s.maximum ?? 1, (s.maximum ?? 1) + 1, (s.minimum ?? 0) - 1, ...(s.enum ?? []), ...(s.enum ?? []).map((e) => e.toUpperCase()), ` ${String(s.default)} `,
  ];
  return pick(r, choices);
}

test(`${CASES} mutated settings objects: a config inside the schema, valid values kept, each unusable value reported by name`, () => {
  const counts = { settings: 0, mutatedValues: 0, keptAsWritten: 0, reported: 0 };
  for (let seed = 1; seed <= CASES; seed++) {
    const r = rng(seed);
    const values = new Map<string, unknown>();
    for (const key of KEYS) if (r() < 0.3) values.set(key, mutant(r, props[`hasten.${key}`]!));
    const problems: string[] = [];
    const settings = { get: <T>(k: string, d: T) => (values.has(k) ? (values.get(k) as T) : d) };
    const cfg = readConfig(settings, (p) => problems.push(p));
    counts.settings++;
    for (const key of KEYS) {
      const s = props[`hasten.${key}`]!;
      const got = valueOf(cfg, key);
      assert.ok(valid(s, got), `seed ${seed}: hasten.${key} = ${JSON.stringify(got)} is outside the schema`);
      if (!values.has(key)) {
        assert.equal(got, s.default, `seed ${seed}: an unset hasten.${key} is its default`);
        continue;
      }
      counts.mutatedValues++;
      const v = values.get(key);
      const named = problems.filter((p) => p.startsWith(`hasten.${key}: `));
      // Strings are trimmed (a path with a trailing space is the same path); anything else valid is kept exactly.
      const asWritten = typeof v === 'string' && s.type === 'string' && !s.enum ? v.trim() : v;
      if (valid(s, asWritten)) {
        assert.equal(got, asWritten, `seed ${seed}: a valid hasten.${key} is kept`);
        assert.deepEqual(named, [], `seed ${seed}: a valid hasten.${key} is not reported`);
        counts.keptAsWritten++;
      } else {
        assert.equal(named.length, 1, `seed ${seed}: hasten.${key} = ${JSON.stringify(v)?.slice(0, 40)} is reported once, by name`);
        assert.match(named[0]!, /; using .+\.$/, 'the report says what is used instead');
        counts.reported++;
      }
    }
    // What the rest of the extension derives from the config holds up too.
    const d = decodeSettings(cfg.decode);
    assert.equal(d.treeWidths!.length, cfg.decode.treeDepth);
    assert.ok(d.treeWidths!.every((w) => Number.isInteger(w) && w >= 1));
  }
  console.log(`# settings fuzz: ${JSON.stringify(counts)}`);
  assert.equal(counts.settings, CASES);
  assert.ok(counts.reported > 1000 && counts.keptAsWritten > 100, 'the cases exercise both paths');
});

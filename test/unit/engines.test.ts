// A clean set-up: no package in the lock file declares a Node version this one lacks, so `npm ci`
// prints no EBADENGINE warning (vega-lite 6.5 declared node >= 22; the project runs on Node 20).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..');
// npm's own range matcher, as installed for the tool chain (no types are published with it).
const semver = createRequire(__filename)('semver') as { satisfies(version: string, range: string): boolean };

test('every locked package supports the Node this runs on', () => {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[] }> };
  const bad: string[] = [];
  for (const [name, p] of Object.entries(lock.packages)) {
    const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
    if (name && range && !semver.satisfies(process.version, range)) bad.push(`${name} needs node ${range} (this is ${process.version})`);
  }
  assert.deepEqual(bad, []);
});

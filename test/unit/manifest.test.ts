import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readConfig } from '../../src/config';
import { COMMAND_IDS } from '../../src/ui/commandIds';

const ROOT = join(__dirname, '..', '..');

interface Manifest {
  name: string;
  publisher: string;
  main: string;
  engines: { vscode: string };
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string; category: string }[];
    configuration: { title: string; properties: Record<string, { type: string; default: unknown; description: string }> };
  };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildOptions } = require('../../esbuild.js') as { buildOptions: () => { extension: { outfile: string } } };

test('every contributed command has a handler, and every handler is contributed', () => {
  const contributed = manifest.contributes.commands.map((c) => c.command).sort();
  assert.deepEqual(contributed, [...COMMAND_IDS].sort());
});

test('every command is in the category Hasten, with an id under hasten.', () => {
  for (const c of manifest.contributes.commands) {
    assert.equal(c.category, 'Hasten', c.command);
    assert.match(c.command, /^hasten\.[a-zA-Z]+$/);
    assert.ok(c.title.length > 0 && !c.title.startsWith('Hasten'), `${c.command}: the category already says Hasten`);
  }
});

test('settings are under hasten., described, and read with the same defaults', () => {
  const { title, properties } = manifest.contributes.configuration;
  assert.equal(title, 'Hasten');
  const defaults = Object.fromEntries(Object.entries(properties).map(([k, p]) => [k.replace(/^hasten\./, ''), p.default]));
  for (const [key, p] of Object.entries(properties)) {
    assert.match(key, /^hasten\./);
    assert.ok(p.description.length > 10, `${key} needs a description`);
  }
  const fromDefaults = readConfig({ get: <T>(_key: string, fallback: T) => fallback });
  const fromManifest = readConfig({ get: <T>(key: string) => defaults[key] as T });
  assert.deepEqual(fromDefaults, fromManifest);
});

test('main is the esbuild extension bundle, activated on startup', () => {
  assert.equal(join(ROOT, manifest.main), join(ROOT, buildOptions().extension.outfile));
  assert.deepEqual(manifest.activationEvents, ['onStartupFinished']);
});

test('engines.vscode matches @types/vscode and the e2e VS Code 1.100', () => {
  assert.equal(manifest.engines.vscode, '^1.100.0');
  assert.match(manifest.devDependencies['@types/vscode'] ?? '', /^1\.100\.\d+$/);
});

test('dependencies are pinned exactly', () => {
  for (const [name, version] of Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })) {
    assert.match(version, /^\d+\.\d+\.\d+$/, `${name}@${version}`);
  }
  assert.equal(manifest.dependencies['onnxruntime-node'], '1.30.0');
  assert.equal(manifest.dependencies['@huggingface/tokenizers'], '0.2.0');
});

test("onnxruntime-node's install script is denied (npm 11) as well as skipped by env (npm 10)", () => {
  assert.equal(manifest.allowScripts?.['onnxruntime-node'], false);
});

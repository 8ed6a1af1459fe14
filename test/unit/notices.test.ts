// The licence files: LICENSE matches package.json, THIRD_PARTY_NOTICES.md is current (every package the
// bundles contain, found by esbuild, with its licence text), and both go into the .vsix.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { bundledPackages, NOTICES_FILE, thirdPartyNotices } from '../../scripts/notices';
import { LEGAL_FILES } from '../../scripts/package';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

test('LICENSE is the MIT licence package.json declares', () => {
  assert.equal((JSON.parse(read('package.json')) as { license: string }).license, 'MIT');
  assert.match(read('LICENSE'), /^MIT License\n\nCopyright \(c\) \d{4} /);
});

test('THIRD_PARTY_NOTICES.md is current: every bundled package and onnxruntime with its licence, and the models\' training data', async () => {
  const pkgs = await bundledPackages();
  for (const p of ['@huggingface/tokenizers', 'lru-cache', 'd3-hierarchy']) assert.ok(pkgs.includes(p), `${p} is bundled`);
  const text = read(NOTICES_FILE);
  assert.equal(text, await thirdPartyNotices(), 'run `npx tsx scripts/notices.ts` to regenerate it');
  for (const p of [...pkgs, 'onnxruntime-node', 'onnxruntime-common']) assert.match(text, new RegExp(`^## ${p.replace('/', '\\/')} `, 'm'));
  assert.match(text, /Apache License/);
  assert.match(text, /^- \*\*PSF-2\.0\*\*: \d+ modules of the Python/m);
});

test('the .vsix must hold the licence and the notices (vsce no longer runs with --skip-license)', () => {
  assert.deepEqual(LEGAL_FILES, ['LICENSE.txt', NOTICES_FILE]);
  const ignore = read('.vscodeignore');
  assert.match(ignore, /^!LICENSE$/m);
  assert.match(ignore, /^!THIRD_PARTY_NOTICES\.md$/m);
  assert.doesNotMatch(read('scripts/package.ts'), /--skip-license/);
});

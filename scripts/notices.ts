// THIRD_PARTY_NOTICES.md, shipped in the .vsix beside LICENSE: the licence of every package the
// bundles contain (found by esbuild's metafile, so a new dependency cannot be missed), of ONNX
// Runtime (shipped as node_modules), and the licences of the code the bundled models were trained on.
// `npx tsx scripts/notices.ts` rewrites the file; test/unit/notices.test.ts checks it is current.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(__dirname, '..');
export const NOTICES_FILE = 'THIRD_PARTY_NOTICES.md';

/** Shipped as files, not bundled (the native addon and its one dependency); they carry no licence file on npm. */
const SHIPPED = ['onnxruntime-node', 'onnxruntime-common'];
const ORT_MIT = `MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.`;

/** npm packages whose code esbuild puts in dist/ (every bundle of esbuild.js, production build). */
export async function bundledPackages(): Promise<string[]> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildOptions } = require(join(ROOT, 'esbuild.js')) as { buildOptions(o: { production: boolean }): Record<string, object> };
  const found = new Set<string>();
  for (const options of Object.values(buildOptions({ production: true }))) {
    const r = await build({ ...options, absWorkingDir: ROOT, write: false, metafile: true, logLevel: 'silent' });
    for (const input of Object.keys(r.metafile.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (m) found.add(m[1]!);
    }
  }
  return [...found].sort();
}

function licenceText(pkg: string): string {
  const dir = join(ROOT, 'node_modules', pkg);
  for (const name of ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license', 'LICENCE']) {
    if (existsSync(join(dir, name))) return readFileSync(join(dir, name), 'utf8').trim();
  }
  if (SHIPPED.includes(pkg)) return ORT_MIT;
  throw new Error(`node_modules/${pkg} has no licence file: add its text to scripts/notices.ts`);
}

interface CorpusPackage {
  pkg: string;
  license: string;
  split: string;
}

/** The models' training code by licence (held-out packages never reach the weights). */
function trainingData(): string[] {
  const summary = JSON.parse(readFileSync(join(ROOT, 'models', 'toolchain', 'corpus-summary.json'), 'utf8')) as { packages: CorpusPackage[] };
  const byLicence = new Map<string, string[]>();
  for (const p of summary.packages.filter((x) => x.split === 'train')) byLicence.set(p.license, [...(byLicence.get(p.license) ?? []), p.pkg]);
  const lines: string[] = [];
  for (const [licence, pkgs] of [...byLicence].sort(([a], [b]) => a.localeCompare(b))) {
    const python = pkgs.filter((p) => p.startsWith('python:'));
    const debian = pkgs.filter((p) => p.startsWith('deb:')).map((p) => `${p.slice('deb:'.length).replace('@', ' ')} (Debian)`);
    const npm = pkgs.filter((p) => p.startsWith('npm:'));
    const parts = [...npm.map((p) => p.replace(/^npm:/, '')), ...debian];
    if (python.length) parts.push(`${python.length} modules of the Python ${python[0]!.split('@')[1]} standard library`);
    lines.push(`- **${licence}**: ${parts.join(', ')}`);
  }
  return lines;
}

/** The whole notices document. */
export async function thirdPartyNotices(): Promise<string> {
  const pkgs = [...(await bundledPackages()), ...SHIPPED];
  const out = [
    '# Third-party notices',
    '',
    'Hasten is MIT-licensed (see LICENSE). It ships the following third-party software, each under its own licence.',
    '',
  ];
  for (const pkg of pkgs) {
    const meta = JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string; license?: string; homepage?: string };
    out.push(`## ${pkg} ${meta.version} (${meta.license ?? 'see below'})`, '');
    if (meta.homepage) out.push(meta.homepage, '');
    if (pkg === 'onnxruntime-node') {
      out.push(`ONNX Runtime's native libraries include third-party components listed in https://github.com/microsoft/onnxruntime/blob/v${meta.version}/ThirdPartyNotices.txt`, '');
    }
    out.push('```', licenceText(pkg), '```', '');
  }
  out.push(
    '## The bundled models',
    '',
    'The models under models/ were trained by this project (models/README.md) on source code from these packages,',
    'each used under a permissive licence (where a package offers a choice, the permissive one: Apache-2.0 for dulwich,',
    'either for cryptography); the list and every file count are in models/toolchain/corpus-summary.json:',
    '',
    ...trainingData(),
    '',
  );
  return out.join('\n');
}

if (require.main === module) {
  thirdPartyNotices()
    .then((text) => {
      writeFileSync(join(ROOT, NOTICES_FILE), text);
      console.log(`wrote ${NOTICES_FILE}`);
    })
    .catch((err: unknown) => {
      console.error(`[notices] ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}

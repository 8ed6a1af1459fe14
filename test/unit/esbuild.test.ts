import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as esbuild from 'esbuild';

interface Options extends esbuild.BuildOptions {
  outfile: string;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildOptions } = require('../../esbuild.js') as {
  buildOptions: (o?: { production?: boolean }) => { extension: Options; engineProcess: Options; webview: Options };
};
const ROOT = join(__dirname, '..', '..');

test('the extension bundle is CommonJS for Node with vscode and onnxruntime-node external', () => {
  const { extension } = buildOptions();
  assert.equal(extension.platform, 'node');
  assert.equal(extension.format, 'cjs');
  assert.deepEqual([...(extension.external ?? [])].sort(), ['onnxruntime-node', 'vscode']);
});

test('the engine process entry is its own CommonJS bundle, dist/engineProcess.js, with the same externals', () => {
  const { engineProcess } = buildOptions();
  assert.equal(engineProcess.outfile, 'dist/engineProcess.js');
  assert.deepEqual(engineProcess.entryPoints, ['src/completion/engineProcess.ts']);
  assert.equal(engineProcess.platform, 'node');
  assert.equal(engineProcess.format, 'cjs');
  assert.deepEqual([...(engineProcess.external ?? [])].sort(), ['onnxruntime-node', 'vscode']);
});

test('the webview bundle is a browser IIFE in dist/webview.js', () => {
  const { webview } = buildOptions();
  assert.equal(webview.platform, 'browser');
  assert.equal(webview.format, 'iife');
  assert.equal(webview.outfile, 'dist/webview.js');
});

test('--production minifies and drops source maps; development keeps them', () => {
  for (const bundle of Object.values(buildOptions({ production: true }))) {
    assert.equal(bundle.minify, true);
    assert.equal(bundle.sourcemap, false);
  }
  for (const bundle of Object.values(buildOptions())) {
    assert.equal(bundle.minify, false);
    assert.ok(bundle.sourcemap);
  }
});

test('the built extension requires vscode and onnxruntime-node at run time instead of inlining them', async () => {
  const { extension } = buildOptions({ production: true });
  const stub = 'import * as ort from "onnxruntime-node"; import * as vscode from "vscode"; export const x = [ort, vscode];';
  const result = await esbuild.build({
    ...extension,
    entryPoints: undefined,
    stdin: { contents: stub, resolveDir: ROOT, loader: 'ts' },
    outfile: undefined,
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.text ?? '';
  assert.match(code, /require\("onnxruntime-node"\)/);
  assert.match(code, /require\("vscode"\)/);
  assert.ok(code.length < 2000, `bundle unexpectedly large (${code.length} bytes): something was inlined`);
});

test('both real entry points build', async () => {
  for (const bundle of Object.values(buildOptions({ production: true }))) {
    const result = await esbuild.build({ ...bundle, absWorkingDir: ROOT, write: false, logLevel: 'silent' });
    assert.deepEqual(result.errors, []);
    assert.ok((result.outputFiles[0]?.text.length ?? 0) > 0);
  }
});

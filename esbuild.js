// Builds the two bundles: the extension (Node, CommonJS) and the visualiser webview (browser, IIFE).
// Usage: node esbuild.js [--production] [--watch]
'use strict';
const fs = require('node:fs');
const esbuild = require('esbuild');

/** Modules that must stay outside the extension bundle: the VS Code API and the native ONNX Runtime addon. */
const EXTENSION_EXTERNALS = ['vscode', 'onnxruntime-node'];

/** esbuild options for both bundles. Exported so the unit tests can check them. */
function buildOptions({ production = false } = {}) {
  const common = {
    bundle: true,
    minify: production,
    sourcemap: production ? false : 'linked',
    sourcesContent: false,
    legalComments: production ? 'none' : 'inline',
    logLevel: 'info',
  };
  return {
    extension: {
      ...common,
      entryPoints: ['src/extension.ts'],
      outfile: 'dist/extension.js',
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: EXTENSION_EXTERNALS,
    },
    // The engine runs in its own process (ONNX Runtime's node binding blocks the calling thread, and
    // a native crash in it must not take the extension host down).
    engineProcess: {
      ...common,
      entryPoints: ['src/completion/engineProcess.ts'],
      outfile: 'dist/engineProcess.js',
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: EXTENSION_EXTERNALS,
    },
    // The graph builder runs in its own process too: building a real model is minutes of CPU.
    buildProcess: {
      ...common,
      entryPoints: ['src/engine/hub/buildProcess.ts'],
      outfile: 'dist/buildProcess.js',
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: EXTENSION_EXTERNALS,
    },
    webview: {
      ...common,
      entryPoints: ['webview/main.ts'],
      outfile: 'dist/webview.js',
      platform: 'browser',
      format: 'iife',
      target: 'es2022',
    },
  };
}

async function main(argv) {
  const production = argv.includes('--production');
  const watch = argv.includes('--watch');
  const configs = Object.values(buildOptions({ production }));
  // A production build must not leave a dev build's source maps beside it.
  fs.rmSync('dist', { recursive: true, force: true });
  if (watch) {
    const contexts = await Promise.all(configs.map((c) => esbuild.context(c)));
    await Promise.all(contexts.map((c) => c.watch()));
    console.log('[esbuild] watching for changes');
    return;
  }
  await Promise.all(configs.map((c) => esbuild.build(c)));
}

module.exports = { buildOptions, EXTENSION_EXTERNALS };

if (require.main === module) {
  main(process.argv.slice(2)).catch(() => process.exit(1));
}

import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkVsixEntries, hostTarget, ignoreFileFor, isRuntimeModelFile, listZip, ortBinaryDir } from '../../scripts/vsix';

// What onnxruntime-node 1.30.0 ships under bin/.
const SHIPPED = ['napi-v6/darwin/arm64', 'napi-v6/linux/arm64', 'napi-v6/linux/x64', 'napi-v6/win32/arm64', 'napi-v6/win32/x64'];
const ORT = 'node_modules/onnxruntime-node/bin/napi-v6';

test('each supported target gets exactly its own binary folder', () => {
  assert.equal(ortBinaryDir('linux-x64', SHIPPED), `${ORT}/linux/x64`);
  assert.equal(ortBinaryDir('linux-arm64', SHIPPED), `${ORT}/linux/arm64`);
  assert.equal(ortBinaryDir('win32-x64', SHIPPED), `${ORT}/win32/x64`);
  assert.equal(ortBinaryDir('win32-arm64', SHIPPED), `${ORT}/win32/arm64`);
  assert.equal(ortBinaryDir('darwin-arm64', SHIPPED), `${ORT}/darwin/arm64`);
});

test('targets without an onnxruntime binary fail and list the supported ones', () => {
  for (const target of ['darwin-x64', 'linux-armhf', 'alpine-x64', 'alpine-arm64', 'web']) {
    assert.throws(() => ortBinaryDir(target, SHIPPED), /ships no native binary.*darwin-arm64, linux-arm64, linux-x64, win32-arm64, win32-x64/, target);
  }
});

test('hostTarget names platform and architecture the way vsce does', () => {
  assert.equal(hostTarget('linux', 'x64'), 'linux-x64');
  assert.equal(hostTarget('win32', 'arm64'), 'win32-arm64');
});

test('only runtime model files are packaged', () => {
  assert.ok(isRuntimeModelFile('models/manifest.json'));
  assert.ok(isRuntimeModelFile('models/hasten-tiny/onnx/model.onnx'));
  assert.ok(isRuntimeModelFile('models/hasten-tiny/tokenizer.json'));
  assert.ok(!isRuntimeModelFile('models/README.md'));
  assert.ok(!isRuntimeModelFile('models/hasten-tiny/reference.json'));
  assert.ok(!isRuntimeModelFile('models/hasten-tiny/model.safetensors'), 'the checkpoint is the builder\'s input');
  assert.ok(!isRuntimeModelFile('models/hasten-tiny/model-00001-of-00002.safetensors'));
  assert.ok(isRuntimeModelFile('models/hasten-tiny/exit_classifier.safetensors'), 'the exit classifier is read at run time');
  assert.ok(!isRuntimeModelFile('models/toolchain/train.py'));
  assert.ok(!isRuntimeModelFile('models/hasten-tiny/checkpoints/step100.pt'));
  assert.ok(!isRuntimeModelFile('models/hasten-tiny/corpus/part0.txt'));
  assert.ok(!isRuntimeModelFile('models/.work/x'));
  assert.ok(!isRuntimeModelFile('src/models/manifest.json'));
});

test('the ignore file re-includes the target binaries, onnxruntime-common and runtime models only', () => {
  const text = ignoreFileFor('**\n!dist/extension.js\n', `${ORT}/linux/x64`, ['models/manifest.json', 'models/toolchain/a.py', 'models/hasten-a/model.onnx']);
  const negated = text.split('\n').filter((l) => l.startsWith('!'));
  assert.ok(negated.includes(`!${ORT}/linux/x64/**`));
  assert.ok(!negated.some((l) => l.includes('/win32/') || l.includes('/darwin/') || l.includes('linux/arm64')));
  assert.ok(negated.includes('!node_modules/onnxruntime-common/dist/cjs/*.js'));
  assert.ok(negated.includes('!models/manifest.json') && negated.includes('!models/hasten-a/model.onnx'));
  assert.ok(!negated.some((l) => l.includes('toolchain')));
  assert.ok(text.startsWith('**\n!dist/extension.js\n'));
});

/** A minimal zip writer, enough to check listZip against. */
function zip(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const data = deflateRawSync(Buffer.from(content));
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(content.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(Object.keys(files).length, 8);
  eocd.writeUInt16LE(Object.keys(files).length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

test('listZip reads names and sizes from the central directory', () => {
  const entries = listZip(zip({ 'extension/package.json': '{}', 'extension/dist/extension.js': 'x'.repeat(1000) }));
  assert.deepEqual(entries, [
    { name: 'extension/package.json', size: 2 },
    { name: 'extension/dist/extension.js', size: 1000 },
  ]);
  assert.throws(() => listZip(Buffer.from('not a zip')), /not a zip/);
});

const GOOD = [
  'extension.vsixmanifest', 'extension/package.json', 'extension/dist/extension.js', 'extension/dist/engineProcess.js', 'extension/dist/buildProcess.js', 'extension/dist/webview.js',
  'extension/node_modules/onnxruntime-node/dist/index.js', 'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
  'extension/node_modules/onnxruntime-common/dist/cjs/package.json',
  `extension/${ORT}/linux/x64/onnxruntime_binding.node`, `extension/${ORT}/linux/x64/libonnxruntime.so.1`,
  'extension/models/manifest.json', 'extension/media/icon.png',
];

test('a right .vsix has no problems', () => {
  assert.deepEqual(checkVsixEntries(GOOD, `${ORT}/linux/x64`), []);
});

test('a .vsix with the wrong files is caught', () => {
  const dir = `${ORT}/linux/x64`;
  const problems = (extra: string[], drop = '') => checkVsixEntries([...GOOD.filter((n) => n !== drop), ...extra], dir);
  assert.match(problems([`extension/${ORT}/win32/x64/onnxruntime_binding.node`]).join(), /another platform's binary/);
  assert.match(problems([], `extension/${dir}/onnxruntime_binding.node`).join(), /missing .*onnxruntime_binding\.node/);
  assert.match(problems(['extension/node_modules/adm-zip/index.js']).join(), /unexpected dependency/);
  assert.match(problems(['extension/models/toolchain/train.py']).join(), /non-runtime model file/);
  assert.match(problems(['extension/src/extension.ts']).join(), /source file/);
  assert.match(problems(['extension/bench/peers/node_modules/node-llama-cpp/dist/index.js']).join(), /benchmark file/);
  assert.match(problems(['extension/dist/extension.js.map']).join(), /source file/);
});

test('.vscodeignore re-includes every bundle esbuild.js writes (the engine process entry included)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildOptions } = require('../../esbuild.js') as { buildOptions: () => Record<string, { outfile: string }> };
  const ignore = readFileSync(join(__dirname, '..', '..', '.vscodeignore'), 'utf8').split('\n');
  for (const bundle of Object.values(buildOptions())) assert.ok(ignore.includes(`!${bundle.outfile}`), `.vscodeignore lacks !${bundle.outfile}`);
});

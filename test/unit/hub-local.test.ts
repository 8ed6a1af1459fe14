// The download command's pure parts: the progress message (MB, MB/s, ETA) and what a local folder is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classifyFolder, formatDuration, formatProgress, localSnapshot, ProgressMeter } from '../../src/engine/hub';

test('progress: MB of the total, MB/s over the window of network bytes only, time left', () => {
  const m = new ProgressMeter(5000);
  // 400 MB already there (resumed), then 10 MB/s.
  assert.equal(m.update({ done: 400e6, total: 1000e6, received: 0 }, 0), '400.0 / 1000.0 MB');
  assert.equal(m.update({ done: 420e6, total: 1000e6, received: 20e6 }, 2000), '420.0 / 1000.0 MB · 10.0 MB/s · 58 s left');
  // The window forgets old samples: a slowdown shows within it.
  m.update({ done: 470e6, total: 1000e6, received: 70e6 }, 7000);
  m.update({ done: 475e6, total: 1000e6, received: 75e6 }, 12_000);
  assert.ok(Math.abs(m.rate() - 1e6) < 1, String(m.rate()));
  assert.equal(formatProgress({ done: 5e6, total: 5e6, received: 5e6 }, 1e6), '5.0 / 5.0 MB · 1.0 MB/s');
  assert.deepEqual([formatDuration(42.4), formatDuration(185), formatDuration(3720)], ['42 s', '3 min 05 s', '1 h 02 min']);
});

test('local folders: onnx graphs used as they are, safetensors checkpoints (single or sharded) built, anything else explained', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-local-'));
  try {
    const dir = (name: string, files: Record<string, string>) => {
      const d = path.join(tmp, name);
      for (const [f, body] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
        fs.writeFileSync(path.join(d, f), body);
      }
      return d;
    };
    assert.deepEqual(classifyFolder(dir('onnx', { 'config.json': '{}', 'onnx/model_q4.onnx': 'x' })), { kind: 'onnx' });
    const single = dir('single', { 'config.json': '{}', 'tokenizer.json': '{}', 'model.safetensors': 'x' });
    assert.deepEqual(classifyFolder(single), { kind: 'checkpoint', weights: ['model.safetensors'] });
    const index = JSON.stringify({ weight_map: { a: 'm-1.safetensors', b: 'm-2.safetensors', c: 'm-1.safetensors' } });
    assert.deepEqual(classifyFolder(dir('sharded', { 'config.json': '{}', 'model.safetensors.index.json': index, 'm-1.safetensors': 'x', 'm-2.safetensors': 'y' })),
      { kind: 'checkpoint', weights: ['m-1.safetensors', 'm-2.safetensors'] });
    const broken = classifyFolder(dir('broken', { 'config.json': '{}', 'model.safetensors.index.json': index, 'm-1.safetensors': 'x' }));
    assert.equal(broken.kind, 'unknown');
    assert.match((broken as { why: string }).why, /m-2\.safetensors/);
    assert.match((classifyFolder(dir('empty', { 'a.txt': '' })) as { why: string }).why, /no config\.json/);
    // The build key of a local checkpoint follows its files' sizes and times.
    const a = localSnapshot(single, ['model.safetensors']);
    assert.deepEqual(a.files.map((f) => f.file), ['config.json', 'tokenizer.json', 'model.safetensors']);
    fs.writeFileSync(path.join(single, 'model.safetensors'), 'xy');
    assert.notEqual(localSnapshot(single, ['model.safetensors']).files[2]!.etag, a.files[2]!.etag);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

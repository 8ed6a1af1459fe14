// From the hub to a running model: presets, a whole checkpoint (single file and shards) downloaded
// from the loopback fake hub, built once by the graph builder (reused by key), and completing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeRandomCheckpoint } from '../../bench/checkpoints';
import { downloadCommand } from '../../bench/download';
import { BUILDER_VERSION } from '../../src/build/builder';
import { Engine } from '../../src/engine';
import { downloadCheckpoint } from '../../src/engine/hub/checkpoint';
import { forkBuild } from '../../src/engine/hub/buildRunner';
import { buildKey, prepareModel } from '../../src/engine/hub/prepare';
import { describeNeeds, dtypeFor, estimateMemory, memoryWarning, PRESETS, presetById, qwen05Params } from '../../src/engine/hub/presets';
import { bundledCheckpointRepos, FakeHub, FakeRepo, QWEN_TOKENIZER, startFakeHub, TINY_SHAPES, tinyCheckpointRepos } from './helpers/fakeHub';

describe('presets', () => {
  test('Qwen2.5-Coder 0.5B/1.5B/3B/7B base, DeepSeek-Coder 1.3B base and a LayerSkip Llama, each on main', () => {
    assert.deepEqual(PRESETS.map((p) => p.repo), [
      'Qwen/Qwen2.5-Coder-0.5B', 'Qwen/Qwen2.5-Coder-1.5B', 'Qwen/Qwen2.5-Coder-3B', 'Qwen/Qwen2.5-Coder-7B',
      'deepseek-ai/deepseek-coder-1.3b-base', 'facebook/layerskip-llama3.2-1B',
    ]);
    for (const p of PRESETS) {
      assert.equal(p.revision, 'main');
      assert.ok(p.files.includes('config.json') && p.files.includes('tokenizer.json'));
      assert.ok(p.optionalFiles.includes('model.safetensors.index.json'));
    }
  });

  test('0.5B drafts for the larger Qwen2.5-Coder models only, and shares their FIM family', () => {
    const drafted = PRESETS.filter((p) => p.draft);
    assert.deepEqual(drafted.map((p) => p.id), ['qwen2.5-coder-1.5b', 'qwen2.5-coder-3b', 'qwen2.5-coder-7b']);
    for (const p of drafted) {
      const d = presetById(p.draft!)!;
      assert.equal(d.id, 'qwen2.5-coder-0.5b');
      assert.equal(d.fim, p.fim);
    }
    assert.equal(presetById('deepseek-coder-1.3b')!.fim, 'deepseek-coder');
    assert.equal(presetById('layerskip-llama3.2-1b')!.fim, null);
  });

  test('int4 on a CPU, fp16 on a GPU; memory grows with size and context', () => {
    assert.equal(dtypeFor('cpu'), 'int4');
    assert.equal(dtypeFor('gpu'), 'fp16');
    // 0.5B from its shape: 494M parameters (published as 0.49B).
    assert.ok(Math.abs(qwen05Params() - 494e6) < 1e6, String(qwen05Params()));
    const q05 = presetById('qwen2.5-coder-0.5b')!;
    const cpu = estimateMemory(q05, 'cpu', 4096);
    // KV: 2 (K,V) × 24 layers × 2 heads × 64 × 4 bytes × 4096 tokens.
    assert.equal(cpu.kvBytes, 2 * 24 * 2 * 64 * 4 * 4096);
    assert.ok(cpu.bytes > 0.8e9 && cpu.bytes < 1.2e9, String(cpu.bytes));
    assert.ok(estimateMemory(q05, 'cpu', 32768).bytes > cpu.bytes);
    const sizes = PRESETS.filter((p) => p.repo.startsWith('Qwen/')).map((p) => estimateMemory(p, 'gpu').bytes);
    assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b));
    const q7 = presetById('qwen2.5-coder-7b')!;
    assert.equal(memoryWarning(q05, 'cpu', 16e9), undefined);
    assert.match(memoryWarning(q7, 'cpu', 8e9)!, /^Qwen2\.5-Coder 7B base needs about \d+\.\d GB of memory at int4, and this machine has 8\.0 GB in all\.$/);
    assert.equal(memoryWarning(q7, 'gpu', 8e9), undefined);
    assert.match(describeNeeds(q05), /^≈ \d+\.\d GB RAM \(int4, CPU\) · ≈ \d+\.\d GB VRAM \(fp16, GPU\)$/);
  });
});

describe('checkpoint from the fake hub to a model', () => {
  let hub: FakeHub;
  let tmp: string;
  let cacheDir: string;
  const SHARDED = 'fake-org/tiny-llama-sharded';

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hubmodels-'));
    cacheDir = path.join(tmp, 'hub');
    const repos: FakeRepo[] = [...tinyCheckpointRepos(), ...bundledCheckpointRepos()];
    const dir = writeRandomCheckpoint(path.join(tmp, 'sharded'), TINY_SHAPES['fake-org/tiny-llama']!, { seed: 5, tokenizerDir: QWEN_TOKENIZER, shards: 2 });
    repos.push({ id: SHARDED, files: Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))])) });
    hub = await startFakeHub(repos, { lifetimeMs: 120_000 });
  });

  after(async () => {
    await hub.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a sharded checkpoint: the shards the index names, all at one commit', async () => {
    const seen: { done: number; total: number }[] = [];
    const snap = await downloadCheckpoint({ repo: SHARDED, endpoint: hub.url, cacheDir, offline: false, onProgress: (p) => seen.push(p) });
    // One progress run over the tokenizer and the weights: one total, counting up to it.
    const sizes = (names: string[]) => names.reduce((sum, f) => sum + snap.files.find((x) => x.file === f)!.size, 0);
    const total = sizes(['tokenizer.json', 'tokenizer_config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    assert.ok(seen.every((p) => p.total === total));
    assert.ok(seen.every((p, i) => i === 0 || p.done >= seen[i - 1]!.done));
    assert.equal(seen.at(-1)!.done, total);
    const names = snap.files.map((f) => f.file).sort();
    assert.deepEqual(names, ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json']);
    assert.ok(snap.files.every((f) => f.commit === hub.commitOf(SHARDED)));
    assert.equal(hub.requests.some((r) => r.path.endsWith('/model.safetensors')), false);
  });

  test('a qwen2 checkpoint is downloaded, built at int4 once (reused by key), and completes', async () => {
    const repo = 'fake-org/tiny-qwen2';
    const snap = await downloadCheckpoint({ repo, endpoint: hub.url, cacheDir, offline: false });
    assert.equal(fs.readFileSync(path.join(cacheDir, 'models--fake-org--tiny-qwen2', 'refs', 'main'), 'utf8'), snap.commit);
    const modelsDir = path.join(tmp, 'models');
    const progress: string[] = [];
    const first = await prepareModel({ snapshot: snap, repo, dtype: 'int4', modelsDir, contextLength: 256, onProgress: (_d, _t, what) => progress.push(what) });
    assert.equal(first.built, true);
    assert.ok(progress.length > 0);
    assert.ok(fs.existsSync(path.join(first.dir, 'onnx', 'model_fast.onnx')));
    const cfg = JSON.parse(fs.readFileSync(path.join(first.dir, 'config.json'), 'utf8')) as { hasten: { build: { builderVersion: string; dtype: string } } };
    assert.deepEqual([cfg.hasten.build.builderVersion, cfg.hasten.build.dtype], [BUILDER_VERSION, 'int4']);

    const again = await prepareModel({ snapshot: snap, repo, dtype: 'int4', modelsDir, contextLength: 256 });
    assert.deepEqual(again, { ...first, built: false });
    assert.notEqual(buildKey(snap, 'fp16', 256), first.key, 'the dtype is part of the key');

    const engine = await Engine.load({ modelDir: first.dir, draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
    try {
      let last: { text: string; done: boolean } | undefined;
      for await (const u of engine.complete({ prefix: 'def add(a, b):\n    return ', suffix: '\n', strategy: 'autoregressive', maxNewTokens: 4 })) last = u;
      assert.equal(last?.done, true);
      assert.equal(typeof last?.text, 'string');
    } finally {
      await engine.dispose();
    }
  });

  test('the build runs in a child process with progress; cancelling it stops the process and leaves no half-built folder', async () => {
    const repo = 'fake-org/tiny-llama';
    const snap = await downloadCheckpoint({ repo, endpoint: hub.url, cacheDir, offline: false });
    const runBuild = forkBuild(path.join(__dirname, '..', '..', 'src', 'engine', 'hub', 'buildProcess.ts'));
    const modelsDir = path.join(tmp, 'forked');
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(
      prepareModel({ snapshot: snap, repo, dtype: 'int8', modelsDir, contextLength: 128, runBuild, signal: ac.signal, onProgress: () => ++seen === 1 && ac.abort() }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.deepEqual(fs.readdirSync(modelsDir), [], 'no output and no .building- folder');

    const progress: number[] = [];
    const p = await prepareModel({ snapshot: snap, repo, dtype: 'int8', modelsDir, contextLength: 128, runBuild, onProgress: (d) => progress.push(d) });
    assert.equal(p.built, true);
    assert.ok(progress.length > 1);
    assert.deepEqual(fs.readdirSync(modelsDir), [path.basename(p.dir)]);
    const cfg = JSON.parse(fs.readFileSync(path.join(p.dir, 'config.json'), 'utf8')) as { hasten: { build: { dtype: string } } };
    assert.equal(cfg.hasten.build.dtype, 'int8');
  });

  test('the bundled target\'s checkpoint, downloaded and built as it was (fp16, its shipped context), gives the shipped graphs byte for byte', async () => {
    const repo = 'hasten/hasten-target';
    const snap = await downloadCheckpoint({ repo, endpoint: hub.url, cacheDir, offline: false });
    const models = path.join(__dirname, '..', '..', 'models', 'hasten-target');
    for (const f of snap.files) assert.ok(fs.readFileSync(f.path).equals(fs.readFileSync(path.join(models, f.file))), f.file);
    const built = (JSON.parse(fs.readFileSync(path.join(models, 'config.json'), 'utf8')) as { hasten: { build: { contextLength: number } } }).hasten.build;
    const p = await prepareModel({ snapshot: snap, repo, dtype: 'fp16', modelsDir: path.join(tmp, 'bundled'), contextLength: built.contextLength });
    for (const g of ['model_fast.onnx', 'model_fast_tree.onnx', 'model.onnx']) {
      assert.ok(fs.readFileSync(path.join(p.dir, 'onnx', g)).equals(fs.readFileSync(path.join(models, 'onnx', g))), g);
    }
  });

  test('hasten download: the same downloader from the CLI, then a build', async () => {
    const out = path.join(tmp, 'cli-models');
    const args = ['fake-org/tiny-qwen2', '--endpoint', hub.url, '--cache', path.join(tmp, 'cli-cache'), '--build', 'int4', '--out', out, '--quiet'];
    const r = await downloadCommand(args);
    assert.equal(r.snapshot, path.join(tmp, 'cli-cache', 'models--fake-org--tiny-qwen2', 'snapshots', hub.commitOf('fake-org/tiny-qwen2')));
    assert.ok(r.built && fs.existsSync(path.join(r.built, 'onnx', 'model_fast.onnx')));
    await assert.rejects(downloadCommand(['a/b', '--build', 'int3', '--out', out]), /--build must be one of/);
  });
});

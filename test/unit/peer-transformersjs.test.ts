// The transformers.js peer decodes exactly what our autoregressive engine decodes from the same
// prompt ids, and reports its timings by the peers' convention.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Engine } from '../../src/engine';
import { openTransformersJs } from '../../bench/peers/transformersjs';
import { peerPrompt } from '../../bench/headline';
import { runOne } from '../../bench/run';
import { loadWorkloads } from '../../bench/workloads';

const MODEL = path.resolve(__dirname, '..', '..', 'models', 'hasten-target');
const MAX_NEW = 24;

test('transformers.js/greedy equals our autoregressive decoding on held-out prompts', async () => {
  const engine = await Engine.load({ modelDir: MODEL, draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
  const opened = await openTransformersJs({ modelDir: MODEL, threads: 1 });
  assert.ok(opened.ok, opened.ok ? '' : opened.message);
  const [peer] = opened.systems;
  assert.ok(peer);
  try {
    assert.equal(peer.id, 'transformers.js/greedy');
    assert.equal(peer.settings.intraOpNumThreads, 1);
    assert.equal(peer.settings.interOpNumThreads, 1);
    const stopIds = [...engine.target.folder.tokenizer.stopIds];
    let timed = 0;
    // Two prompts per kind: on some the model ends the middle at once (a stop token), leaving nothing to time.
    for (const item of loadWorkloads(['line-start', 'mid-line', 'repetitive'], 2)) {
      const ours = await runOne(engine, item, 'autoregressive', MAX_NEW);
      assert.equal(ours.error, undefined);
      // Our first token comes from token healing, which the peer lacks: it continues after it.
      const { prompt, first } = await peerPrompt(engine, item, MAX_NEW);
      assert.equal(first, ours.output[0]);
      const run = await peer.generate(prompt, MAX_NEW - 1, stopIds);
      assert.equal(run.error, undefined);
      assert.deepEqual([first, ...run.output], ours.output, item.id);
      assert.equal(run.tokens, run.output.length);
      assert.ok(run.prefillMs > 0, `${item.id}: prefill ${run.prefillMs} ms`);
      // One token (or a stop at once) leaves nothing to time after the first.
      if (run.tokens > 1) {
        assert.ok(run.decodeMs > 0, `${item.id}: decode ${run.decodeMs} ms for ${run.tokens} tokens`);
        timed++;
      }
    }
    assert.ok(timed >= 2, 'at least two prompts decode more than one token');
  } finally {
    await peer.dispose();
    await engine.dispose();
  }
});

test('a stop id ends the output and is not part of it', async () => {
  const opened = await openTransformersJs({ modelDir: MODEL, threads: 1 });
  assert.ok(opened.ok);
  const peer = opened.systems[0]!;
  try {
    const prompt = [5, 6, 7, 8];
    const free = await peer.generate(prompt, 8, []);
    assert.equal(free.output.length, 8);
    const stopped = await peer.generate(prompt, 8, [free.output[3]!]);
    assert.deepEqual(stopped.output, free.output.slice(0, free.output.indexOf(free.output[3]!)));
    assert.equal(stopped.tokens, stopped.output.length);
  } finally {
    await peer.dispose();
  }
});

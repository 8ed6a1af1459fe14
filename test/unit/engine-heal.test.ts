// Token healing end to end: at a cursor that splits what would be one token in training (a line
// start before indented code, a word cut in half), the prompt ends one token early and the first
// generated token must start with that token's text, which is not shown. Every strategy shares it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Engine, Strategy } from '../../src/engine';
import { loadWorkloads } from '../../bench/workloads';

const MODELS = path.resolve(__dirname, '..', '..', 'models');
let engine: Engine;
before(async () => {
  engine = await Engine.load({ modelDir: path.join(MODELS, 'hasten-target'), cmlmDir: null, runtime: { threads: 1 } });
});
after(async () => engine.dispose());

async function complete(prefix: string, suffix: string, strategy: Strategy) {
  await engine.reset();
  let last;
  for await (const u of engine.complete({ prefix, suffix, strategy, maxNewTokens: 24 })) last = u;
  return last!;
}

test('the healed text starts the first token and is not part of the completion; streamed deltas add up to it', async () => {
  const items = loadWorkloads(['line-start', 'mid-line'], 4);
  let healedAtLineStart = 0;
  for (const it of items) {
    const { heal } = engine.promptFor(it.prefix, it.suffix, 24);
    assert.ok(heal.length > 0 && it.prefix.endsWith(heal), `${it.id}: heal ${JSON.stringify(heal)}`);
    if (it.kind === 'line-start' && heal === '\n') healedAtLineStart++;
    await engine.reset();
    let streamed = '';
    let last;
    for await (const u of engine.complete({ prefix: it.prefix, suffix: it.suffix, strategy: 'autoregressive', maxNewTokens: 24 })) {
      streamed += u.delta;
      last = u;
    }
    const tk = engine.target.folder.tokenizer;
    assert.ok(tk.tokenText(last!.trace.output[0]!).startsWith(heal), `${it.id}: first token ${JSON.stringify(tk.tokenText(last!.trace.output[0]!))}`);
    assert.equal(tk.decode(last!.trace.output), heal + last!.text);
    assert.equal(streamed, last!.text);
  }
  assert.ok(healedAtLineStart > 0, 'a line start ends in a bare newline token, which healing takes off');
});

test('every lossless strategy heals the same way: identical tokens to autoregressive decoding', async () => {
  for (const it of loadWorkloads(['line-start', 'mid-line', 'repetitive'], 2)) {
    const ar = await complete(it.prefix, it.suffix, 'autoregressive');
    for (const s of ['prompt-lookup', 'draft-model', 'token-tree', 'lookahead', 'self-speculation'] as Strategy[]) {
      const r = await complete(it.prefix, it.suffix, s);
      assert.deepEqual(r.trace.output, ar.trace.output, `${it.id}: ${s}`);
      assert.equal(r.text, ar.text, `${it.id}: ${s}`);
    }
  }
});

// Issue 18's stray `s`: at a TypeScript line start after an auto-indent the bundled model wrote
// <|fim_suffix|> as its second token, which decoding drops, then `s(value, value) {` or `| undefined;`,
// shown as if it went on from the code. Every special token now ends the completion, in every strategy.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Engine, type Strategy } from '../../src/engine';

const MODELS = path.resolve(__dirname, '..', '..', 'models');
let engine: Engine;
before(async () => {
  engine = await Engine.load({ modelDir: path.join(MODELS, 'hasten-target'), cmlmDir: null, runtime: { threads: 1 } });
});
after(async () => engine.dispose());

test('every special token of the vocabulary is a stop token', () => {
  const tk = engine.target.folder.tokenizer;
  for (const name of ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|mask|>']) {
    assert.ok(tk.stopIds.has(tk.idOf(name)!), name);
  }
  assert.ok(!tk.stopIds.has(tk.encode(' return')[0]!));
});

test('a completion ends where the model writes a special token, identically in every lossless strategy', async () => {
  const tk = engine.target.folder.tokenizer;
  // A prompt on which the bundled target writes a special token within 48 tokens. Which prompts do depends on the
  // weights: issue 18's TypeScript line start did until the session-4 retrain, `import os` / `import json` until the
  // session-5 retrain, this one does now (end of sequence after 15 tokens).
  const prefix = "'use strict';\n\nconst ";
  const suffix = '\nmodule.exports = {};\n'; // more than closers, so a FIM prompt (a suffix of only closers gets a plain continuation)
  await engine.reset();
  let ar;
  for await (const u of engine.complete({ prefix, suffix, strategy: 'autoregressive', maxNewTokens: 48 })) ar = u;
  assert.equal(ar!.trace.stopReason, 'eos');
  assert.ok(ar!.trace.output.every((id) => !tk.stopIds.has(id)), 'no special token in the output');
  assert.ok(!ar!.text.includes('|'), `nothing after the special token is shown: ${JSON.stringify(ar!.text)}`);
  for (const s of ['prompt-lookup', 'draft-model', 'lookahead', 'self-speculation'] as Strategy[]) {
    await engine.reset();
    let r;
    for await (const u of engine.complete({ prefix, suffix, strategy: s, maxNewTokens: 48 })) r = u;
    assert.deepEqual(r!.trace.output, ar!.trace.output, s);
  }
});

// Typing reuses the KV cache of the unchanged prompt up to the cursor (issue 14): the provider's prefix
// window (moving rarely, by half of prefixChars at once) and the engine's cut of a too-long prefix both
// keep their start while the user types, and a completion on the reused cache is token for token the
// completion of a cold prefill.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadWorkloads } from '../../bench/workloads';
import { prefixStart, prefixStep, stringSource, windowsAt } from '../../src/completion/context';
import { CompletionTrace, Engine } from '../../src/engine';
import { buildPrompt } from '../../src/engine/prompt';

const MODELS = path.resolve(__dirname, '..', '..', 'models');
const WINDOW = { prefixChars: 2000, suffixChars: 500, multiline: 'auto' as const, maxLines: 8 };

/** A long file and the offsets a user typing `typed` at `at` passes through (one per key). */
function typing(text: string, at: number, typed: string): { doc: string; offset: number }[] {
  return Array.from({ length: typed.length + 1 }, (_, k) => ({ doc: text.slice(0, at) + typed.slice(0, k) + text.slice(at), offset: at + k }));
}

const commonPrefix = (a: readonly number[], b: readonly number[]) => {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
};

describe('the prompt keeps its start while the user types', () => {
  const file = Array.from({ length: 300 }, (_, i) => `    total += values[${i}] * weight(${i})  # line ${i}\n`).join('');
  const typed = 'result = compute(total, values)\n    return result + 1\n'.repeat(8);

  test('the prefix window starts at a line, holds prefixChars to half as much again, and moves only after half of prefixChars is typed', () => {
    const step = prefixStep(WINDOW.prefixChars);
    assert.equal(step, 1000);
    const long = typed.repeat(6);
    const starts = typing(file, 6000, long).map(({ doc, offset }) => {
      const w = windowsAt(stringSource(doc), offset, WINDOW);
      const start = offset - w.prefix.length;
      // At least prefixChars less the way to a line start (the file's lines are under 60 characters), under prefixChars + step.
      assert.ok(w.prefix.length > WINDOW.prefixChars - 60 && w.prefix.length < WINDOW.prefixChars + step, `prefix of ${w.prefix.length} chars`);
      assert.ok(start === 0 || doc[start - 1] === '\n', 'starts at a line');
      assert.equal(start, prefixStart(stringSource(doc), offset, WINDOW.prefixChars));
      return start;
    });
    const moves = starts.filter((s, i) => i > 0 && s !== starts[i - 1]);
    assert.ok(moves.length >= 1 && moves.length <= Math.ceil(long.length / step), `${moves.length} moves over ${long.length} keys`);
    // Each move goes forward by about a step at once.
    for (const [i, s] of starts.entries()) if (i > 0 && s !== starts[i - 1]) assert.ok(s - starts[i - 1]! > step - 60, `moved by ${s - starts[i - 1]!}`);
    assert.equal(prefixStart(stringSource(file), 1500, 2000), 0, 'a cursor within prefixChars of the top keeps the whole prefix');
    assert.equal(prefixStart(stringSource(file), 2900, 2000), 0, 'and until the window has grown by a step');
    // The smallest window the setting allows (100, step 50) keeps at least half of it and less than half as much again, wherever the cursor is.
    for (let offset = 101; offset < 1000; offset++) {
      const kept = offset - prefixStart(stringSource(file), offset, 100);
      assert.ok(kept >= 50 && kept < 150, `${kept} characters kept at ${offset}`);
    }
    // The step the window had before (256) is still there for comparisons (bench/typing.ts).
    assert.ok(typing(file, 6000, long).filter(({ doc, offset }, i, all) => i > 0 && prefixStart(stringSource(doc), offset, 2000, 256) !== prefixStart(stringSource(all[i - 1]!.doc), offset - 1, 2000, 256)).length > moves.length * 3);
  });

  test('a prefix too long for the budget is cut in blocks: consecutive prompts share all but their last few tokens', async () => {
    const engine = await Engine.load({ modelDir: path.join(MODELS, 'hasten-target'), draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
    try {
      const tk = engine.target.folder.tokenizer;
      let shifted = 0;
      let last: number[] = [];
      for (const { doc, offset } of typing(file, 6000, typed.slice(0, 120))) {
        const w = windowsAt(stringSource(doc), offset, WINDOW);
        const { ids } = buildPrompt(tk, w.prefix, w.suffix, { tokens: 200, suffixShare: 0.25 }, true);
        assert.ok(ids.length <= 200);
        const fim = tk.fim!;
        const cursorAt = ids.indexOf(fim.suffixId);
        // Everything up to a few tokens before the cursor is what the last prompt had.
        if (last.length && commonPrefix(ids, last) < cursorAt - 4) shifted++;
        last = ids;
      }
      assert.ok(shifted <= 6, `${shifted} of 121 keystrokes moved the prompt's start`);
    } finally {
      await engine.dispose();
    }
  });
});

describe('a completion on the reused KV cache equals one after a cold prefill', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ modelDir: path.join(MODELS, 'hasten-target'), draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
  });
  after(async () => engine.dispose());

  async function complete(prefix: string, suffix: string): Promise<CompletionTrace> {
    let trace: CompletionTrace | undefined;
    for await (const u of engine.complete({ prefix, suffix, strategy: 'autoregressive', maxNewTokens: 16 })) if (u.done) trace = u.trace;
    return trace!;
  }

  test('typing word by word through held-out files: same tokens, and most of each prompt reused', async () => {
    const items = loadWorkloads(['line-start'], 3);
    let reused = 0;
    let prompted = 0;
    let positions = 0;
    for (const it of items) {
      const text = it.prefix + it.truth + it.suffix;
      await engine.reset();
      // Word ends in the truth: where a typist pauses and a completion is asked for.
      const ends = [...it.truth.matchAll(/[\s.(,:]/g)].map((m) => m.index! + 1).slice(0, 6);
      for (const end of ends) {
        const offset = it.prefix.length + end;
        const w = windowsAt(stringSource(text), offset, WINDOW);
        const warm = await complete(w.prefix, w.suffix);
        await engine.reset();
        const cold = await complete(w.prefix, w.suffix);
        assert.equal(cold.reusedTokens, 0);
        assert.deepEqual(warm.output, cold.output, `${it.id} at +${end}: the reused cache changed the completion`);
        if (warm.output.length === 0) assert.equal(warm.stopReason, cold.stopReason);
        // The next keystroke's warm run starts from the cache this cold run left, as after any completion.
        reused += warm.reusedTokens;
        prompted += warm.promptTokens;
        positions++;
      }
    }
    assert.ok(positions >= 12, `${positions} positions`);
    // The first completion of each file is cold; the suffix and the newly typed tokens are fed again each time.
    assert.ok(reused / prompted > 0.4, `reused ${reused} of ${prompted} prompt tokens`);
  });
});

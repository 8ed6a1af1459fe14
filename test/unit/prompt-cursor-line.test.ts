// hasten.context.cursorLine 'middle': a FIM prompt puts the cursor line's text before the cursor after the
// middle token (llama.vscode's layout), so typing on a line changes only the prompt's tail and the KV
// cache of the lines before and of the suffix is reused; 'prefix' feeds the suffix again at every key.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readConfig } from '../../src/config';
import { stringSource, windowsAt } from '../../src/completion/context';
import { CompletionTrace, Engine } from '../../src/engine';
import { buildPrompt, type CursorLine, type PromptContext } from '../../src/engine/prompt';
import { TextTokenizer } from '../../src/engine/tokenizer';

const ROOT = path.resolve(__dirname, '..', '..');
const qwen = TextTokenizer.load(path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-qwen2_5', 'models'), [151643]);
const text = (tk: TextTokenizer, ids: readonly number[]) => ids.map((id) => tk.tokenText(id)).join('');
const budget = { tokens: 2000, suffixShare: 0.25, extraShare: 0.25 };

const BEFORE = 'import { add } from "./a";\n\nfunction main() {\n';
const LINE = '  const total = add(x, ';
const SUFFIX = ');\n  console.log(total);\n}\n';

const commonPrefix = (a: readonly number[], b: readonly number[]) => {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
};

test('the setting defaults to middle', () => {
  assert.equal(readConfig({ get: <T>(_k: string, d: T) => d }).completion.cursorLine, 'middle');
});

test('middle: <PRE>lines before<SUF>suffix<MID>line so far, the line healed; prefix: the line before <SUF>', () => {
  const mid = buildPrompt(qwen, BEFORE + LINE, SUFFIX, budget, true, undefined, 'middle');
  assert.equal(text(qwen, mid.ids) + mid.heal, `<|fim_prefix|>${BEFORE}<|fim_suffix|>${SUFFIX}<|fim_middle|>${LINE}`);
  assert.ok(mid.heal.length > 0, 'the line\'s last token is healed');
  const pre = buildPrompt(qwen, BEFORE + LINE, SUFFIX, budget, true, undefined, 'prefix');
  assert.equal(text(qwen, pre.ids), `<|fim_prefix|>${BEFORE}${LINE.slice(0, LINE.length - pre.heal.length)}<|fim_suffix|>${SUFFIX}<|fim_middle|>`);
  // The default is 'prefix' for callers that do not choose (benchmarks, the engine's API).
  assert.deepEqual(buildPrompt(qwen, BEFORE + LINE, SUFFIX, budget, true), pre);
  // At a line start the middle is empty; on the file's first line everything before the cursor is the line.
  assert.equal(text(qwen, buildPrompt(qwen, BEFORE, SUFFIX, budget, true, undefined, 'middle').ids), `<|fim_prefix|>${BEFORE}<|fim_suffix|>${SUFFIX}<|fim_middle|>`);
  const first = buildPrompt(qwen, LINE, SUFFIX, budget, true, undefined, 'middle');
  assert.equal(text(qwen, first.ids) + first.heal, `<|fim_prefix|><|fim_suffix|>${SUFFIX}<|fim_middle|>${LINE}`);
});

test('middle with repository context: the context comes first, the line still after <MID>', () => {
  const ctx: PromptContext = { chunks: [{ source: 'src/a.ts', text: 'export const add = (a: number, b: number) => a + b;\n' }], path: 'src/main.ts', repo: 'calc' };
  const { ids, heal } = buildPrompt(qwen, BEFORE + LINE, SUFFIX, budget, true, ctx, 'middle');
  const t = text(qwen, ids) + heal;
  assert.ok(t.startsWith('<|repo_name|>calc\n<|file_sep|>src/a.ts\n'), t);
  assert.ok(t.endsWith(`<|file_sep|>src/main.ts\n<|fim_prefix|>${BEFORE}<|fim_suffix|>${SUFFIX}<|fim_middle|>${LINE}`), t);
});

test('a suffix of only closers stays a plain continuation, the same in both layouts', () => {
  for (const suffix of ['', '\n}\n']) {
    assert.deepEqual(buildPrompt(qwen, BEFORE + LINE, suffix, budget, true, undefined, 'middle'), buildPrompt(qwen, BEFORE + LINE, suffix, budget, true, undefined, 'prefix'));
  }
});

test('a long prefix is cut at its start in both layouts and the prompt stays within the budget', () => {
  const long = 'let v = values[i] * weight(i);\n'.repeat(400) + LINE;
  for (const layout of ['middle', 'prefix'] as CursorLine[]) {
    const { ids, heal } = buildPrompt(qwen, long, SUFFIX, { tokens: 300, suffixShare: 0.25 }, true, undefined, layout);
    assert.ok(ids.length <= 300, `${layout}: ${ids.length} tokens`);
    const t = text(qwen, ids) + heal;
    assert.ok(layout === 'middle' ? t.endsWith(`<|fim_middle|>${LINE}`) : t.endsWith(`${LINE.slice(0, LINE.length - heal.length)}<|fim_suffix|>${SUFFIX}<|fim_middle|>${heal}`), `${layout}: ${t.slice(-120)}`);
  }
});

test('typing on a line: with middle each prompt shares everything up to <MID> with the last; with prefix the suffix changes place', () => {
  const typed = 'y * 2, z';
  const shared: Record<CursorLine, number[]> = { middle: [], prefix: [] };
  for (const layout of ['middle', 'prefix'] as CursorLine[]) {
    let last: number[] = [];
    for (let k = 0; k <= typed.length; k++) {
      const { ids } = buildPrompt(qwen, BEFORE + LINE + typed.slice(0, k), SUFFIX, budget, true, undefined, layout);
      if (last.length) shared[layout].push(ids.length - commonPrefix(ids, last));
      last = ids;
    }
  }
  // Middle: only the line's last few tokens are new at each key; prefix: the suffix (and what follows it) every time the
  // prompt changes (a key can leave it as it was: the healed last token comes off either way).
  const suffixTokens = qwen.encode(SUFFIX).length;
  assert.ok(shared.middle.every((n) => n <= 3), `new tokens per key, middle: ${shared.middle.join(',')}`);
  const changed = shared.prefix.filter((n) => n > 0);
  assert.ok(changed.length >= typed.length / 2 && changed.every((n) => n >= suffixTokens + 1), `new tokens per key, prefix: ${shared.prefix.join(',')}`);
});

describe('on the bundled model while typing through a file', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ modelDir: path.join(ROOT, 'models', 'hasten-target'), draftDir: null, cmlmDir: null, runtime: { threads: 1 } });
  });
  after(async () => engine.dispose());

  async function complete(prefix: string, suffix: string, cursorLine: CursorLine): Promise<CompletionTrace> {
    let trace: CompletionTrace | undefined;
    for await (const u of engine.complete({ prefix, suffix, cursorLine, strategy: 'autoregressive', maxNewTokens: 12 })) if (u.done) trace = u.trace;
    return trace!;
  }

  test('middle: the same tokens on the reused cache as after a cold prefill, and fewer tokens fed per key than prefix', async () => {
    const file = Array.from({ length: 60 }, (_, i) => `    total += values[${i}] * weight(${i})\n`).join('');
    const at = file.indexOf('\n', 1200) + 1;
    const typed = '    result = compute(total, values) + offset\n    return result\n';
    const windows = { ...readConfig({ get: <T>(_k: string, d: T) => d }).completion };
    const fed: Record<CursorLine, number> = { middle: 0, prefix: 0 };
    for (const layout of ['prefix', 'middle'] as CursorLine[]) {
      await engine.reset();
      for (const m of typed.matchAll(/[\s(,]/g)) {
        const offset = at + m.index! + 1;
        const doc = file.slice(0, at) + typed.slice(0, m.index! + 1) + file.slice(at);
        const w = windowsAt(stringSource(doc), offset, windows);
        const warm = await complete(w.prefix, w.suffix, layout);
        fed[layout] += warm.promptTokens - warm.reusedTokens;
        if (layout === 'middle') {
          await engine.reset();
          const cold = await complete(w.prefix, w.suffix, layout);
          assert.equal(cold.reusedTokens, 0);
          assert.deepEqual(warm.output, cold.output, `at +${m.index}: the reused cache changed the completion`);
        }
      }
    }
    // Each warm run starts from the cache the previous key's completion left (a cold one in the middle run: the same prompt and tokens).
    assert.ok(fed.middle < fed.prefix, `tokens fed: middle ${fed.middle}, prefix ${fed.prefix}`);
  });
});

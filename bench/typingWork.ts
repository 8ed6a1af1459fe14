// Work, not time: tokens fed per word-end key (the prompt less what the KV cache kept, from the engine's
// trace) while typing through the typing section's file, in each prompt layout side by side, on a model
// cheap enough to type far: by default the toy random-weight Qwen2 stand-in (bench/standin.ts), which has
// the 0.5B stand-in's tokenizer and context (2,048), so its prompts and counts are the 0.5B's (both are
// random: what they generate never matches what is typed next). Decodes one token a key unless told
// more; the latencies it prints (the layouts take turns at each key) mean something only on an idle
// machine, with the real shape (--model models/.work/qwen2-24x896-int4, built by the typing section or
// --standin, and --max-tokens 16 as that section).
//
//   npx tsx bench/typingWork.ts [--words 300] [--model DIR | --standin] [--threads 1] [--max-tokens 1]
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { BEFORE_ANCHOR, TYPED_FILE, typeThrough, type TypingLayout } from './typing';
import { QWEN25_05B } from './checkpoints';
import { builtAt, standinCheckpoint, TINY_QWEN } from './standin';

const LAYOUTS: { name: string; layout: TypingLayout }[] = [
  { name: 'prefix', layout: { cursorLine: 'prefix' } },
  { name: 'middle, cursor line, window step 256 (before)', layout: { cursorLine: 'middle', ...BEFORE_ANCHOR } },
  { name: 'middle, anchored (now)', layout: { cursorLine: 'middle' } },
];

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { words: { type: 'string', default: '300' }, model: { type: 'string' }, standin: { type: 'boolean', default: false }, threads: { type: 'string', default: '1' }, 'max-tokens': { type: 'string', default: '1' } } });
  const dir = v.model ? path.resolve(v.model) : (await builtAt(standinCheckpoint(v.standin ? QWEN25_05B : TINY_QWEN), 'int4', 2048)).dir;
  const text = fs.readFileSync(TYPED_FILE, 'utf8');
  const runs = await typeThrough(path.basename(dir), dir, text, { threads: Number(v.threads), words: Number(v.words), maxNewTokens: Number(v['max-tokens']) }, LAYOUTS.map((l) => l.layout));
  console.log(`${path.basename(dir)}, ${v.threads} thread(s), ${v['max-tokens']} token(s) a key, load ${os.loadavg()[0]!.toFixed(1)}, ${runs[0]!.keys.samples} word-end keys after the cold first completion (${runs[0]!.cold.promptTokens} tokens):`);
  for (const [i, r] of runs.entries()) {
    const k = r.keys;
    console.log(`  ${LAYOUTS[i]!.name.padEnd(48)} tokens fed per key p50 ${k.fedP50} p95 ${k.fedP95} mean ${k.meanFed!.toFixed(1)} max ${k.fedMax}  (prompt ${k.meanPromptTokens.toFixed(0)}); latency p50 ${k.p50Ms.toFixed(0)} p95 ${k.p95Ms.toFixed(0)} ms`);
  }
}

main().catch((err: unknown) => {
  console.error(`typingWork: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

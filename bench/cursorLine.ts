// What hasten.context.cursorLine does to suggestions: the held-out workloads' cursors (line starts and
// mid-line), completed greedily to the end of the line with the cursor line's text at the prefix's end
// ('prefix') and after the middle token ('middle'), on one model; counts first lines equal to the truth's
// and the mean chrF against it, empty lines (no ghost text), and how often the two layouts give the same line.
//   npx tsx bench/cursorLine.ts [--model models/hasten-target] [--limit 40] [--threads 1]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CursorLine, Engine } from '../src/engine';
import { chrF } from './metrics';
import { loadWorkloads } from './workloads';

const ROOT = path.resolve(__dirname, '..');

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { model: { type: 'string', default: path.join(ROOT, 'models', 'hasten-target') }, limit: { type: 'string', default: '40' }, threads: { type: 'string', default: '1' } } });
  const engine = await Engine.load({ modelDir: v.model!, draftDir: null, cmlmDir: null, runtime: { threads: Number(v.threads) } });
  const layouts: CursorLine[] = ['prefix', 'middle'];
  try {
    for (const kind of ['line-start', 'mid-line'] as const) {
      const items = loadWorkloads([kind], Number(v.limit));
      const exact = { prefix: 0, middle: 0 };
      const score = { prefix: 0, middle: 0 };
      const empty = { prefix: 0, middle: 0 };
      let same = 0;
      for (const it of items) {
        const truth = it.truth.split('\n')[0]!;
        const lines: Record<CursorLine, string> = { prefix: '', middle: '' };
        for (const cursorLine of layouts) {
          let text = '';
          for await (const u of engine.complete({ prefix: it.prefix, suffix: it.suffix, cursorLine, strategy: 'autoregressive', maxNewTokens: 32, stopText: (t) => t.includes('\n') })) text = u.text;
          const line = text.split('\n')[0]!;
          lines[cursorLine] = line;
          if (line.trim() === truth.trim()) exact[cursorLine]++;
          score[cursorLine] += chrF(line, truth);
          if (line.trim() === '') empty[cursorLine]++;
        }
        if (lines.prefix === lines.middle) same++;
      }
      const n = items.length;
      console.log(`${kind} (${n} cursors): first line equal to the truth's: prefix ${exact.prefix}, middle ${exact.middle}; mean chrF: prefix ${(score.prefix / n).toFixed(3)}, middle ${(score.middle / n).toFixed(3)}; empty: prefix ${empty.prefix}, middle ${empty.middle}; same line in both layouts: ${same}`);
    }
  } finally {
    await engine.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(`cursorLine: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

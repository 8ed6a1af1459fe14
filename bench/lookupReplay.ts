// Replays a report's greedy outputs through prompt lookup's chain and through auto's sized prompt lookup
// (AUTO_LOOKUP), without running the model: with greedy decoding every lossless drafter produces the same
// tokens, so the target passes each would take follow from the drafts alone. Prints, per workload, the
// passes, the drafted tokens verified and the verification time modelled by the report's physical limit
// (cost(width) per pass), and how often prompt lookup's drafts are accepted by the length of the match
// they copy from: the figures AUTO_LOOKUP was chosen on. Rerun it when the bundled models change.
//   npx tsx bench/lookupReplay.ts [--report bench/report/report.json]
//   npx tsx bench/lookupReplay.ts --prompts tuning [--outputs bench/report/auto-priors.json]
// With --prompts tuning it replays the tuning prompts (bench/tuning.json) instead, their greedy outputs
// taken from a `hasten bench --prompts tuning --json` run; the cost of a pass still comes from the report.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AUTO_LOOKUP, Engine } from '../src/engine/engine';
import { DEFAULT_LOOKUP, lookupMatch, LookupOptions, PromptLookupDrafter } from '../src/engine/drafters/promptLookup';
import { GREEDY, seededRandom } from '../src/engine/sampling';
import { treeDepth } from '../src/engine/verify/tree';
import { costAt, VerifyCost } from './limit';
import { loadWorkloads, promptSetFile, TUNING_FILE } from './workloads';

interface Tally { passes: number; drafted: number; cost: number }

/** Replays `out` (the completion after `prompt`) through a fresh drafter; `byMatch[g]` collects [steps, drafted, accepted] after a match of g tokens. */
async function replay(o: LookupOptions, prompt: readonly number[], out: readonly number[], limit: VerifyCost, byMatch?: number[][]): Promise<Tally> {
  const d = new PromptLookupDrafter(o);
  const history = [...prompt, out[0]!];
  const t: Tally = { passes: 0, drafted: 0, cost: 0 };
  for (let i = 1; i < out.length;) {
    const tree = await d.draft({ history, maxNodes: 24, maxDepth: out.length - i - 1, sampling: GREEDY, rand: seededRandom(1) });
    // Greedy acceptance: follow the child that matches the next output token.
    const accepted: number[] = [];
    for (let node = -1; i + accepted.length < out.length - 1;) {
      const next = tree.tokens.findIndex((tok, j) => tree.parents[j] === node && tok === out[i + accepted.length]);
      if (next < 0) break;
      accepted.push(next);
      node = next;
    }
    if (byMatch && tree.tokens.length) {
      const g = lookupMatch(history, o, treeDepth(tree)).ngram;
      const [steps, depth, acc] = byMatch[g] ?? [0, 0, 0];
      byMatch[g] = [steps! + 1, depth! + treeDepth(tree), acc! + accepted.length];
    }
    t.passes++;
    t.drafted += tree.tokens.length;
    t.cost += costAt(limit, tree.tokens.length + 1);
    const n = Math.min(accepted.length + 1, out.length - i);
    history.push(...out.slice(i, i + n));
    i += n;
    d.update({ tree, accepted, history });
  }
  return t;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      report: { type: 'string', default: path.join(__dirname, 'report', 'report.json') }, prompts: { type: 'string', default: 'heldout' },
      outputs: { type: 'string', default: path.join(__dirname, 'report', 'auto-priors.json') },
    },
  });
  const file = promptSetFile(v.prompts);
  const report = JSON.parse(fs.readFileSync(v.report!, 'utf8')) as { headline: { records: { item: string; system: string; output: number[] }[]; maxNewTokens: number }; limit: { target: VerifyCost } };
  let outputs = new Map(report.headline.records.filter((r) => r.system === 'autoregressive').map((r) => [r.item, r.output]));
  let maxNewTokens = report.headline.maxNewTokens;
  if (file === TUNING_FILE) {
    const run = JSON.parse(fs.readFileSync(v.outputs!, 'utf8')) as { prompts?: string; maxNewTokens: string | number; records: { item: string; strategy: string; output: number[] }[] };
    if (run.prompts !== 'tuning') throw new Error(`${v.outputs} is not a run on the tuning prompts (hasten bench --prompts tuning --json FILE)`);
    outputs = new Map(run.records.filter((r) => r.strategy === 'autoregressive').map((r) => [r.item, r.output]));
    maxNewTokens = Number(run.maxNewTokens);
  }
  const engine = await Engine.load({ modelDir: path.join(__dirname, '..', 'models', 'hasten-target'), draftDir: null, cmlmDir: null, runtime: { provider: 'cpu', threads: 1 }, log: () => {} });
  const settings: Record<string, LookupOptions> = { 'prompt-lookup': { ...DEFAULT_LOOKUP, draftLength: 8 }, 'auto (AUTO_LOOKUP)': AUTO_LOOKUP };
  const totals = new Map<string, Tally>();
  const byMatch: number[][] = [];
  try {
    for (const item of loadWorkloads(undefined, Infinity, file).filter((i) => (outputs.get(i.id)?.length ?? 0) >= 2)) {
      const prompt = engine.promptFor(item.prefix, item.suffix, maxNewTokens).ids;
      for (const [name, o] of Object.entries(settings)) {
        const t = await replay(o, prompt, outputs.get(item.id)!, report.limit.target, name === 'prompt-lookup' ? byMatch : undefined);
        for (const key of [`${item.kind}\t${name}`, `all\t${name}`]) {
          const s = totals.get(key) ?? { passes: 0, drafted: 0, cost: 0 };
          totals.set(key, { passes: s.passes + t.passes, drafted: s.drafted + t.drafted, cost: s.cost + t.cost });
        }
      }
    }
  } finally {
    await engine.dispose();
  }
  console.log('workload\tdrafter\tpasses\tdrafted\tmodelled verification (single-token passes)');
  for (const [key, t] of totals) console.log(`${key}\t${t.passes}\t${t.drafted}\t${t.cost.toFixed(0)}`);
  console.log('\nprompt lookup by match length: steps, mean depth drafted, mean accepted');
  byMatch.forEach((r, g) => r && console.log(`${g}\t${r[0]}\t${(r[1]! / r[0]!).toFixed(2)}\t${(r[2]! / r[0]!).toFixed(2)}`));
}

main().catch((err: unknown) => {
  console.error(`lookupReplay: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

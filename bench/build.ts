// `hasten build`: a Hugging Face checkpoint folder in, a Hasten model folder out, with a progress
// bar (cli-progress, as the report uses) and a summary.
import cliProgress from 'cli-progress';
import { parseArgs } from 'node:util';
import { build, BuildSummary } from '../src/build/builder';
import { Variant, VARIANTS } from '../src/build/graphs';
import { Dtype, DTYPES } from '../src/build/weights';

export const BUILD_USAGE = `  hasten build --from DIR --out DIR [--dtype ${DTYPES.join('|')}] [--variants ${VARIANTS.join(',')}] [--context N] [--head-fp32] [--force] [--json]`;

const OPTIONS = {
  from: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string', default: 'fp32' }, variants: { type: 'string' },
  context: { type: 'string' }, 'head-fp32': { type: 'boolean', default: false }, force: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false }, 'block-size': { type: 'string' }, 'accuracy-level': { type: 'string' },
} as const;

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** A human summary of a build. */
export function formatSummary(s: BuildSummary): string {
  const a = s.arch;
  return [
    `built ${s.out}`,
    `  ${a.family}: ${a.layers} layers, hidden ${a.hidden}, ${a.heads}/${a.kvHeads} heads of ${a.headDim}, vocab ${a.vocab}; ${(s.params / 1e6).toFixed(2)}M params`,
    `  dtype ${s.dtype}; weights ${mb(s.weightBytes)} in one shared file; ${s.graphs.length} graphs (${s.graphs.map((g) => `${g.file.replace('onnx/', '')} ${g.nodes} nodes`).slice(0, 4).join(', ')}${s.graphs.length > 4 ? ', …' : ''})`,
    `  ${s.seconds.toFixed(1)} s`,
  ].join('\n');
}

export async function buildCommand(args: string[]): Promise<void> {
  const v = parseArgs({ args, options: OPTIONS, strict: true }).values;
  if (!v.from || !v.out) throw new Error(`build needs --from and --out\n${BUILD_USAGE}`);
  if (!(DTYPES as readonly string[]).includes(v.dtype!)) throw new Error(`--dtype must be one of ${DTYPES.join(', ')}`);
  const variants = v.variants?.split(',').map((s) => s.trim()) as Variant[] | undefined;
  const bad = variants?.filter((x) => !VARIANTS.includes(x));
  if (bad?.length) throw new Error(`unknown variant ${bad.join(', ')}; use ${VARIANTS.join(', ')}`);
  const num = (s: string | undefined, name: string) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  const bar = new cliProgress.SingleBar({ format: 'build [{bar}] {value}/{total} {what}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 5000 }, cliProgress.Presets.shades_classic);
  let started = false;
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    const summary = await build({
      from: v.from, out: v.out, dtype: v.dtype as Dtype, ...(variants ? { variants } : {}), force: v.force, quantiseHead: !v['head-fp32'],
      ...(num(v.context, 'context') ? { contextLength: num(v.context, 'context') } : {}),
      ...(num(v['block-size'], 'block-size') ? { blockSize: num(v['block-size'], 'block-size') } : {}),
      ...(num(v['accuracy-level'], 'accuracy-level') !== undefined ? { accuracyLevel: num(v['accuracy-level'], 'accuracy-level') } : {}),
      signal: controller.signal,
      onProgress: (done, total, what) => {
        if (!started) {
          bar.start(total, done, { what });
          started = true;
        }
        bar.update(done, { what });
      },
    });
    if (started) bar.stop();
    console.log(v.json ? JSON.stringify({ ...summary, arch: summary.arch }, null, 2) : formatSummary(summary));
  } catch (err) {
    if (started) bar.stop();
    throw err;
  }
}

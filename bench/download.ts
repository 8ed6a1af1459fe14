// `hasten download`: a hub repo (or a preset id) into the shared Hugging Face cache, with the same
// downloader as the extension's Download Model… command, and optionally built (--build DTYPE --out DIR).
import cliProgress from 'cli-progress';
import { parseArgs } from 'node:util';
import { DTYPES, Dtype } from '../src/build/weights';
import { defaultToken, downloadCheckpoint, presetById, PRESETS, prepareModel, ProgressMeter, resolveEndpoint } from '../src/engine/hub';

export const DOWNLOAD_USAGE = `  hasten download REPO|PRESET [--revision main] [--endpoint URL] [--cache DIR] [--build ${DTYPES.join('|')} --out DIR] [--quiet]
    presets: ${PRESETS.map((p) => p.id).join(', ')}; token from HF_TOKEN or huggingface-cli login`;

const OPTIONS = {
  revision: { type: 'string' }, endpoint: { type: 'string' }, cache: { type: 'string' }, build: { type: 'string' }, out: { type: 'string' },
  quiet: { type: 'boolean', default: false },
} as const;

/** Downloads (and builds); prints the snapshot folder (and the built folder). */
export async function downloadCommand(args: string[]): Promise<{ snapshot: string; built?: string }> {
  const { values: v, positionals } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true });
  const target = positionals[0];
  if (!target || positionals.length > 1) throw new Error(`download needs one repo id or preset\n${DOWNLOAD_USAGE}`);
  if (v.build && !(DTYPES as readonly string[]).includes(v.build)) throw new Error(`--build must be one of ${DTYPES.join(', ')}`);
  if (v.build && !v.out) throw new Error('--build needs --out DIR (where built models go)');
  const preset = presetById(target);
  const repo = preset?.repo ?? target;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  const bar = new cliProgress.SingleBar({ format: 'download [{bar}] {msg}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 5000 }, cliProgress.Presets.shades_classic);
  const meter = new ProgressMeter();
  let started = false;
  try {
    const snap = await downloadCheckpoint({
      repo, revision: v.revision ?? preset?.revision, endpoint: resolveEndpoint(v.endpoint), token: defaultToken(), cacheDir: v.cache, signal: controller.signal,
      onProgress: (p) => {
        if (v.quiet) return;
        const msg = `${p.file}: ${meter.update(p, Date.now())}`;
        if (!started) bar.start(p.total, p.done, { msg });
        started = true;
        bar.update(p.done, { msg });
      },
    }, preset);
    if (started) bar.stop();
    const fetched = snap.files.filter((f) => !f.cached);
    if (!v.quiet) console.log(`${repo} at ${snap.commit}: ${fetched.length} file(s) downloaded (${(fetched.reduce((s, f) => s + f.received, 0) / 1e6).toFixed(1)} MB), ${snap.files.length - fetched.length} already cached\n${snap.dir}`);
    if (!v.build) return { snapshot: snap.dir };
    const p = await prepareModel({ snapshot: snap, repo, dtype: v.build as Dtype, modelsDir: v.out!, signal: controller.signal });
    if (!v.quiet) console.log(`${p.built ? 'built' : 'already built'} ${p.dir}`);
    return { snapshot: snap.dir, built: p.dir };
  } finally {
    if (started) bar.stop();
    process.off('SIGINT', onSigint);
  }
}

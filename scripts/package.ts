// npm run package [-- --target <vsce target>] [--out <file.vsix>]
// Builds the production bundles and a .vsix holding only that platform's onnxruntime-node binaries.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { runCommand } from './proc';
import { checkVsixEntries, hostTarget, ignoreFileFor, listZip, ortBinaryDir, VSCE_TARGETS } from './vsix';

const ROOT = resolve(__dirname, '..');
/** The licence and the third-party notices (scripts/notices.ts) go in every .vsix. */
export const LEGAL_FILES = ['LICENSE.txt', 'THIRD_PARTY_NOTICES.md'];

export interface PackageOptions {
  readonly target?: string;
  /** Where to write the .vsix; defaults to hasten-<version>-<target>.vsix in the repo root. */
  readonly out?: string;
  readonly log?: (line: string) => void;
}

export interface PackageResult {
  readonly path: string;
  readonly bytes: number;
  readonly files: number;
}

/** Every file under `dir`, relative to the repo root, with forward slashes. */
function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split('\\').join('/'));
}

/** The onnxruntime-node binary folders it ships, e.g. `napi-v6/linux/x64`. */
function ortBinDirs(): string[] {
  const bin = join(ROOT, 'node_modules/onnxruntime-node/bin');
  if (!existsSync(bin)) throw new Error('node_modules/onnxruntime-node is missing: run `ONNXRUNTIME_NODE_INSTALL=skip npm ci` first.');
  return readdirSync(bin).flatMap((napi) =>
    readdirSync(join(bin, napi)).flatMap((os) => readdirSync(join(bin, napi, os)).map((arch) => `${napi}/${os}/${arch}`)),
  );
}

/** Builds the bundles and packages a .vsix for one target; throws if the result holds the wrong files. */
export async function packageVsix(options: PackageOptions = {}): Promise<PackageResult> {
  const log = options.log ?? console.log;
  const target = options.target ?? hostTarget();
  if (!(VSCE_TARGETS as readonly string[]).includes(target)) throw new Error(`unknown target "${target}"; vsce accepts: ${VSCE_TARGETS.join(', ')}`);
  const ortDir = ortBinaryDir(target, ortBinDirs());
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const out = resolve(options.out ?? join(ROOT, `hasten-${version}-${target}.vsix`));

  log(`[package] building production bundles`);
  await runCommand(process.execPath, ['esbuild.js', '--production'], { cwd: ROOT, timeoutMs: 120_000 });

  const tmp = mkdtempSync(join(tmpdir(), 'hasten-package-'));
  try {
    const ignoreFile = join(tmp, '.vscodeignore');
    writeFileSync(ignoreFile, ignoreFileFor(readFileSync(join(ROOT, '.vscodeignore'), 'utf8'), ortDir, walk(join(ROOT, 'models'))));
    log(`[package] vsce package --target ${target}`);
    const vsce = require.resolve('@vscode/vsce/vsce');
    await runCommand(
      process.execPath,
      [vsce, 'package', '--target', target, '--ignoreFile', ignoreFile, '--out', out, '--allow-missing-repository'],
      { cwd: ROOT, timeoutMs: 300_000 },
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const entries = listZip(readFileSync(out));
  const names = entries.map((e) => e.name);
  const problems = [...checkVsixEntries(names, ortDir), ...LEGAL_FILES.filter((f) => !names.includes(`extension/${f}`)).map((f) => `missing ${f}`)];
  if (problems.length > 0) throw new Error(`${out} is wrong:\n  ${problems.join('\n  ')}`);
  const bytes = statSync(out).size;
  log(`[package] ${relative(process.cwd(), out) || out}: ${entries.length} files, ${(bytes / 1e6).toFixed(1)} MB`);
  return { path: out, bytes, files: entries.length };
}

function parseArgs(argv: readonly string[]): PackageOptions {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const target = value('--target');
  const out = value('--out');
  return { ...(target ? { target } : {}), ...(out ? { out } : {}) };
}

if (require.main === module) {
  packageVsix(parseArgs(process.argv.slice(2))).catch((err: unknown) => {
    console.error(`[package] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}

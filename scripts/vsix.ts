// Pure rules for per-platform .vsix packaging: which files go in, and a check of what came out.

/** Every target `vsce package --target` accepts. */
export const VSCE_TARGETS = [
  'win32-x64', 'win32-arm64', 'linux-x64', 'linux-arm64', 'linux-armhf',
  'darwin-x64', 'darwin-arm64', 'alpine-x64', 'alpine-arm64', 'web',
] as const;

const ORT_BIN = 'node_modules/onnxruntime-node/bin';

/** Files of onnxruntime-node and its one runtime dependency that every platform needs. */
const ORT_COMMON_INCLUDES = [
  'node_modules/onnxruntime-node/package.json',
  'node_modules/onnxruntime-node/dist/*.js',
  'node_modules/onnxruntime-common/package.json',
  'node_modules/onnxruntime-common/dist/cjs/*.js',
  'node_modules/onnxruntime-common/dist/cjs/package.json',
];

/** Folder names under models/ that hold training artefacts, never runtime files. */
const NON_RUNTIME_MODEL_DIRS = new Set(['checkpoints', 'corpus', '.work', '.cache', '__pycache__', 'toolchain']);

/** The VS Code target of the machine running this, e.g. `linux-x64`. */
export function hostTarget(platform: string = process.platform, arch: string = process.arch): string {
  return `${platform}-${arch}`;
}

/**
 * The onnxruntime-node binary folder (relative to the repo) that `target` needs.
 * `binDirs` are the folders onnxruntime-node ships, relative to its bin/, e.g. `napi-v6/linux/x64`.
 */
export function ortBinaryDir(target: string, binDirs: readonly string[]): string {
  const [os, arch, ...rest] = target.split('-');
  const matches = rest.length === 0 ? binDirs.filter((d) => d.endsWith(`/${os}/${arch}`)) : [];
  if (matches.length !== 1) {
    const supported = binDirs.map((d) => d.split('/').slice(1).join('-')).sort();
    throw new Error(
      `onnxruntime-node ships no native binary for target "${target}". ` +
        `Supported targets: ${supported.join(', ')}.`,
    );
  }
  return `${ORT_BIN}/${matches[0]}`;
}

/** Whether a repo-relative path under models/ is a runtime model file that belongs in the .vsix. */
export function isRuntimeModelFile(path: string): boolean {
  const parts = path.split('/');
  if (parts[0] !== 'models') return false;
  if (parts.length === 2) return parts[1] === 'manifest.json';
  if (!parts[1]?.startsWith('hasten-')) return false;
  // reference.json holds torch's outputs for the parity tests; the extension never reads it.
  if (parts[parts.length - 1] === 'reference.json') return false;
  // The HF checkpoint is the graph builder's input (models/toolchain/graphs.ts); the engine runs onnx/.
  // exit_classifier.safetensors (CALM's learned exit classifier) is read at run time and goes in.
  if (/^model(-\d+-of-\d+)?\.safetensors$/.test(parts[parts.length - 1]!)) return false;
  return !parts.slice(1, -1).some((dir) => NON_RUNTIME_MODEL_DIRS.has(dir));
}

/** The ignore file for one target: the base .vscodeignore plus this target's binaries and model files. */
export function ignoreFileFor(base: string, ortDir: string, modelFiles: readonly string[]): string {
  const includes = [...ORT_COMMON_INCLUDES, `${ortDir}/**`, ...modelFiles.filter(isRuntimeModelFile)];
  return `${base.trimEnd()}\n\n# Added by scripts/package.ts for this target\n${includes.map((p) => `!${p}`).join('\n')}\n`;
}

export interface ZipEntry {
  readonly name: string;
  readonly size: number;
}

/** Lists a zip archive's entries from its central directory (no ZIP64: a .vsix stays far below 4 GiB). */
export function listZip(zip: Buffer): ZipEntry[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip archive: no end-of-central-directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`corrupt zip: bad central directory entry ${i}`);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const skip = nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    entries.push({ name: zip.toString('utf8', at + 46, at + 46 + nameLength), size });
    at += 46 + skip;
  }
  return entries;
}

/** Problems with a packaged .vsix for `target`; empty when it is right. */
export function checkVsixEntries(names: readonly string[], ortDir: string): string[] {
  const problems: string[] = [];
  const has = (n: string) => names.includes(`extension/${n}`);
  for (const required of [
    'package.json', 'dist/extension.js', 'dist/engineProcess.js', 'dist/buildProcess.js', 'dist/webview.js',
    'node_modules/onnxruntime-node/dist/index.js',
    'node_modules/onnxruntime-common/dist/cjs/index.js', 'node_modules/onnxruntime-common/dist/cjs/package.json',
    `${ortDir}/onnxruntime_binding.node`,
  ]) {
    if (!has(required)) problems.push(`missing ${required}`);
  }
  for (const name of names) {
    const path = name.replace(/^extension\//, '');
    if (path.startsWith(`${ORT_BIN}/`) && !path.startsWith(`${ortDir}/`)) problems.push(`another platform's binary: ${path}`);
    else if (path.startsWith('node_modules/') && !/^node_modules\/onnxruntime-(node|common)\//.test(path)) problems.push(`unexpected dependency file: ${path}`);
    else if (path.startsWith('models/') && !isRuntimeModelFile(path)) problems.push(`non-runtime model file: ${path}`);
    else if (path.startsWith('bench/')) problems.push(`benchmark file (bench/peers/node_modules is never shipped): ${path}`);
    else if (/^(src|test|scripts|webview)\//.test(path) || path.endsWith('.map')) problems.push(`source file: ${path}`);
  }
  return problems;
}

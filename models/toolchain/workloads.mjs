// Writes bench/workloads.json: completion prompts cut from the held-out packages only (never seen
// in training), used by the benchmark and by the losslessness tests.
// With --tuning, writes bench/tuning.json instead: the same kinds of prompts cut from code that is
// neither trained on nor held out (nor evaluation-only): the Python standard library's lib2to3, which
// the corpus excludes (sources.json python.exclude), and Hasten's own TypeScript (src/) and JavaScript
// (models/toolchain/*.mjs, esbuild.js) as of a pinned commit (HASTEN_SOURCE). Policies (auto's priors, draft settings) are measured on these,
// so the benchmark's held-out prompts are never tuned against.
//   line-start  the cursor at the start of a non-empty line; the truth is that line
//   mid-line    the cursor inside a line, after its first token; the truth is the rest of the line
//   repetitive  a function followed by a renamed copy of its first line; the truth is the copy's
//               body (the "second of two similar functions" case that lookup drafting targets)
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rng } from './prep.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PREFIX_CHARS = 1200;
const SUFFIX_CHARS = 400;
const COUNTS = { 'line-start': 60, 'mid-line': 60, repetitive: 40 };

const tuning = process.argv.includes('--tuning');
/**
 * Hasten's own source is read as it was at this commit, not from the working tree, so that the tuning
 * prompts (and the priors measured on them) can be cut again exactly while the code moves on.
 */
const HASTEN_SOURCE = '0f02b06bbf0872d7db4a69500490d58ee4f1d5b8';
const sources = JSON.parse(fs.readFileSync(path.join(here, 'sources.json'), 'utf8'));

/** The tuning documents: files of the sources named above, each as { pkg, path, text, license, lang }. */
function tuningDocs() {
  const py = sources.python;
  const version = execFileSync('python3', ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
  const tuningPy = ['lib2to3'];
  for (const name of tuningPy) {
    if (!py.exclude.includes(name)) throw new Error(`python ${name} is not excluded from the corpus, so it cannot tune`);
  }
  const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === '__pycache__' ? [] : walk(path.join(dir, e.name))) : [path.join(dir, e.name)]);
  const docs = [];
  for (const name of tuningPy) {
    const base = path.join(py.root, name);
    for (const f of walk(base).filter((f) => f.endsWith('.py')).sort()) {
      docs.push({ pkg: `python:${name}@${version}`, path: path.relative(base, f), text: fs.readFileSync(f, 'utf8'), license: py.license, lang: 'python' });
    }
  }
  const license = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).license;
  const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  const tracked = git('ls-tree', '-r', '--name-only', HASTEN_SOURCE, '--', 'src', 'models/toolchain', 'esbuild.js').trim().split('\n').sort();
  for (const f of tracked) {
    const lang = /\.ts$/.test(f) ? 'typescript' : /\.(mjs|js)$/.test(f) ? 'javascript' : null;
    if (!lang) continue;
    docs.push({ pkg: `hasten:${lang}`, path: f, text: git('show', `${HASTEN_SOURCE}:${f}`), license, lang });
  }
  return docs;
}

const docs = (tuning ? tuningDocs() : fs.readFileSync(path.join(here, '..', '.work', 'corpus', 'heldout.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)))
  .filter((d) => { const lines = d.text.split('\n'); return lines.length > 30 && lines.every((l) => l.length <= sources.limits.maxLineLength); });
const rand = rng(tuning ? 7 : 2024);
const byPkg = new Map();
for (const d of docs) byPkg.set(d.pkg, [...(byPkg.get(d.pkg) ?? []), d]);
const packages = [...byPkg.keys()].sort();
// A package first, then a file: dayjs's 200 locale files must not crowd out everything else.
const pickDoc = () => { const list = byPkg.get(packages[Math.floor(rand() * packages.length)]); return list[Math.floor(rand() * list.length)]; };

function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return starts;
}

function item(kind, d, cursor, truthEnd, extra = {}) {
  return {
    id: `${kind}-${0}`, kind, source: `${d.pkg}/${d.path}`, license: d.license, lang: d.lang,
    prefix: d.text.slice(Math.max(0, cursor - PREFIX_CHARS), cursor),
    suffix: d.text.slice(truthEnd, truthEnd + SUFFIX_CHARS),
    truth: d.text.slice(cursor, truthEnd),
    ...extra,
  };
}

function lineItem(kind) {
  for (;;) {
    const d = pickDoc();
    const starts = lineStarts(d.text);
    const i = 10 + Math.floor(rand() * (starts.length - 12));
    const s = starts[i];
    const e = starts[i + 1] - 1;
    const line = d.text.slice(s, e);
    if (line.trim().length < 8) continue;
    if (kind === 'line-start') return item(kind, d, s, e);
    const indent = line.length - line.trimStart().length;
    const col = indent + 2 + Math.floor(rand() * Math.max(1, line.length - indent - 4));
    if (col >= line.length - 1) continue;
    return item(kind, d, s + col, e);
  }
}

const FN = /^(\s*)(?:export\s+)?(?:async\s+)?(def|function|class)\s+([A-Za-z_$][\w$]*)/;

function repetitiveItem() {
  for (;;) {
    const d = pickDoc();
    const lines = d.text.split('\n');
    const i = Math.floor(rand() * lines.length);
    const m = FN.exec(lines[i] ?? '');
    if (!m) continue;
    // The block: following lines indented deeper than the header (or up to a closing brace line).
    let j = i + 1;
    while (j < lines.length && j - i < 16 && (lines[j].trim() === '' || lines[j].length - lines[j].trimStart().length > m[1].length)) j++;
    if (lines[j]?.trim().startsWith('}')) j++;
    if (j - i < 4) continue;
    const block = lines.slice(i, j).join('\n');
    const name = m[3];
    const renamed = `${name}Copy`;
    const copy = block.replace(new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`), renamed);
    const header = copy.split('\n')[0];
    const before = lines.slice(Math.max(0, i - 20), i).join('\n');
    const prefix = `${before}\n${block}\n\n${header}\n`.slice(-PREFIX_CHARS);
    const truth = copy.split('\n').slice(1).join('\n');
    return { id: '', kind: 'repetitive', source: `${d.pkg}/${d.path}`, license: d.license, lang: d.lang, prefix, suffix: '', truth };
  }
}

const items = [];
for (const [kind, n] of Object.entries(COUNTS)) {
  for (let k = 0; k < n; k++) {
    const it = kind === 'repetitive' ? repetitiveItem() : lineItem(kind);
    it.id = `${kind}-${k}`;
    items.push(it);
  }
}
const file = tuning ? 'tuning.json' : 'workloads.json';
const out = {
  comment: tuning
    ? 'Tuning prompts, cut by models/toolchain/workloads.mjs --tuning from code neither trained on nor held out (Python lib2to3, Hasten\'s own source); licences per item.'
    : 'Cut from the held-out packages (never used in training) by models/toolchain/workloads.mjs; licences per item.',
  items,
};
fs.mkdirSync(path.join(root, 'bench'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench', file), JSON.stringify(out, null, 1) + '\n');
console.log(`workloads: ${items.length} items -> bench/${file}`);

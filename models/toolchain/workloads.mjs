// Writes bench/workloads.json: completion prompts cut from the held-out packages only (never seen
// in training), used by the benchmark and by the losslessness tests.
//   line-start  the cursor at the start of a non-empty line; the truth is that line
//   mid-line    the cursor inside a line, after its first token; the truth is the rest of the line
//   repetitive  a function followed by a renamed copy of its first line; the truth is the copy's
//               body (the "second of two similar functions" case that lookup drafting targets)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rng } from './prep.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PREFIX_CHARS = 1200;
const SUFFIX_CHARS = 400;
const COUNTS = { 'line-start': 60, 'mid-line': 60, repetitive: 40 };

const docs = fs.readFileSync(path.join(here, '..', '.work', 'corpus', 'heldout.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  .filter((d) => d.text.split('\n').length > 30);
const rand = rng(2024);
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
const out = {
  comment: 'Cut from the held-out packages (never used in training) by models/toolchain/workloads.mjs; licences per item.',
  items,
};
fs.mkdirSync(path.join(root, 'bench'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench', 'workloads.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`workloads: ${items.length} items -> bench/workloads.json`);

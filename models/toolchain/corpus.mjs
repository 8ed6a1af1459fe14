// Builds the code corpus: pinned npm packages (TS/JS), the Python standard library and pinned Debian
// python3-* packages (apt-get download PKG=VERSION, dpkg-deb -x). Evaluation-only packages
// (sources.json evaluationOnly) are refused as sources, and vendored copies of them are dropped by path.
// Output (ignored by git): models/.work/corpus/{train,heldout}.jsonl, one document per line.
// Output (committed): models/toolchain/corpus-summary.json with sources, licences, sizes and the split.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = path.resolve(here, '..', '.work');
const out = path.join(work, 'corpus');
const sources = JSON.parse(fs.readFileSync(path.join(here, 'sources.json'), 'utf8'));
const limits = sources.limits;

const CODE_EXT = new Map([
  ['.ts', 'typescript'], ['.tsx', 'typescript'], ['.mts', 'typescript'], ['.cts', 'typescript'],
  ['.js', 'javascript'], ['.mjs', 'javascript'], ['.cjs', 'javascript'], ['.jsx', 'javascript'],
  ['.py', 'python'],
]);

const evalOnly = sources.evaluationOnly;
const evalPathNames = new Set(evalOnly.pathNames.map((n) => n.toLowerCase()));

/** True when a path names an evaluation-only package as a directory component or a file stem (`six.py`, `vendor/acorn/x.js`). */
function namesEvaluationPackage(rel) {
  const parts = rel.split(/[\\/]/).map((p) => p.toLowerCase());
  const stem = parts.pop().split('.')[0];
  return evalPathNames.has(stem) || parts.some((p) => evalPathNames.has(p));
}

function refuseEvaluationSources() {
  const npmNames = new Set(evalOnly.npm);
  const debNames = new Set([...evalOnly.debian, ...evalOnly.npm.map((n) => `node-${n}`)]);
  const bad = [
    ...sources.npm.filter((p) => npmNames.has(p.name)).map((p) => `npm ${p.name}`),
    ...sources.debian.packages.filter((p) => debNames.has(p.name)).map((p) => `Debian ${p.name}`),
  ];
  if (bad.length) die(`sources.json names evaluation-only package(s) ${bad.join(', ')}: they are kept for independent evaluation and must never be trained on (see evaluationOnly in models/toolchain/sources.json)`);
}

function die(msg) {
  console.error(`corpus: ${msg}`);
  process.exit(1);
}

function walk(dir, skip = new Set()) {
  const files = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...walk(p, skip));
    else if (entry.isFile()) files.push(p);
  }
  return files.sort();
}

/** True when a file looks like hand-written source rather than a minified or generated artefact. */
function looksHandWritten(name, text) {
  if (/\.min\.(js|mjs|cjs)$/.test(name) || name.endsWith('.map')) return false;
  if (text.length === 0 || text.length > limits.maxFileBytes) return false;
  if (text.includes('\u0000')) return false;
  const lines = text.split('\n');
  const longest = lines.reduce((m, l) => Math.max(m, l.length), 0);
  return longest <= limits.maxLineLength && text.length / lines.length <= limits.maxMeanLineLength;
}

function fetchNpm(pkg) {
  const dir = path.join(work, 'npm', `${pkg.name.replace('/', '__')}@${pkg.version}`);
  if (fs.existsSync(path.join(dir, 'package', 'package.json'))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  let tgz;
  try {
    const res = JSON.parse(execFileSync('npm', ['pack', '--json', `${pkg.name}@${pkg.version}`, '--pack-destination', dir],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
    tgz = path.join(dir, res[0].filename);
  } catch (err) {
    die(`cannot fetch ${pkg.name}@${pkg.version} from the npm registry (${String(err.stderr || err).split('\n')[0]}). ` +
      'Check that `npm view ' + pkg.name + '` works, or remove it from models/toolchain/sources.json.');
  }
  execFileSync('tar', ['xzf', tgz, '-C', dir]);
  fs.rmSync(tgz);
  // Most tarballs unpack into package/; a few (@types/*) into a folder of their own name.
  const top = fs.readdirSync(dir);
  if (!top.includes('package') && top.length === 1) fs.renameSync(path.join(dir, top[0]), path.join(dir, 'package'));
  return dir;
}

function npmDocs(pkg) {
  const root = path.join(fetchNpm(pkg), 'package');
  const meta = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const license = typeof meta.license === 'string' ? meta.license : (meta.license?.type ?? 'UNKNOWN');
  const docs = [];
  for (const file of walk(root, new Set(['node_modules']))) {
    const lang = CODE_EXT.get(path.extname(file));
    if (!lang) continue;
    docs.push({ pkg: `npm:${pkg.name}@${pkg.version}`, license, lang, path: path.relative(root, file), text: fs.readFileSync(file, 'utf8') });
  }
  return docs;
}

function pythonDocs(py) {
  const version = execFileSync('/usr/bin/python3', ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], { encoding: 'utf8' }).trim();
  const docs = [];
  for (const file of walk(py.root, new Set(py.exclude))) {
    if (path.extname(file) !== '.py') continue;
    const rel = path.relative(py.root, file);
    const top = rel.split(path.sep)[0].replace(/\.py$/, '');
    docs.push({ pkg: `python:${top}@${version}`, license: py.license, lang: 'python', path: rel, text: fs.readFileSync(file, 'utf8'), heldout: py.heldout.includes(top) });
  }
  return docs;
}

const SPDX = new Map([['expat', 'MIT'], ['mit', 'MIT'], ['bsd-3-clause', 'BSD-3-Clause'], ['bsd-3', 'BSD-3-Clause'], ['bsd-2-clause', 'BSD-2-Clause'],
  ['apache-2.0', 'Apache-2.0'], ['apache-2', 'Apache-2.0'], ['psf-2', 'PSF-2.0'], ['psf', 'PSF-2.0'], ['isc', 'ISC'], ['public-domain', 'public-domain']]);

/** The short licence name of the `Files: *` stanza of a Debian copyright file (DEP-5). */
function debLicense(root, name) {
  const file = path.join(root, 'usr', 'share', 'doc', name, 'copyright');
  if (!fs.existsSync(file)) return 'UNKNOWN';
  const stanzas = fs.readFileSync(file, 'utf8').split(/\n\s*\n/);
  const main = stanzas.find((s) => /^Files:\s*\*\s*$/m.test(s)) ?? stanzas.find((s) => /^License:/m.test(s));
  const m = main && /^License:[ \t]*(\S.*)$/m.exec(main);
  if (!m) return 'UNKNOWN';
  return m[1].trim().split(/(\s+(?:or|and)\s+)/i).map((l) => SPDX.get(l.trim().toLowerCase()) ?? l).join('');
}

function fetchDeb(pkg) {
  const dir = path.join(work, 'deb', `${pkg.name}_${pkg.version}`);
  const root = path.join(dir, 'root');
  if (fs.existsSync(path.join(root, 'usr'))) return root;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('apt-get', ['download', '-q', `${pkg.name}=${pkg.version}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    die(`cannot fetch ${pkg.name}=${pkg.version} with apt-get download (${String(err.stderr || err).split('\n')[0]}). ` +
      'The usual cause is stale package lists without bookworm-updates or bookworm-security, where some pins live: ' +
      'run `apt-get update` and try again. Otherwise check `apt-cache policy ' + pkg.name + '` (Debian bookworm), ' +
      'or remove it from models/toolchain/sources.json.');
  }
  const deb = fs.readdirSync(dir).find((f) => f.endsWith('.deb'));
  execFileSync('dpkg-deb', ['-x', path.join(dir, deb), root]);
  fs.rmSync(path.join(dir, deb));
  return root;
}

function debDocs(pkg, skipDirs) {
  const root = fetchDeb(pkg);
  const license = pkg.license ?? debLicense(root, pkg.name);
  const base = path.join(root, sources.debian.root);
  if (!fs.existsSync(base)) die(`${pkg.name}=${pkg.version} has no ${sources.debian.root}`);
  const isPy = (f) => path.extname(f) === '.py';
  const vendored = walk(base).filter(isPy).length - walk(base, skipDirs).filter(isPy).length;
  const docs = [];
  for (const file of walk(base, skipDirs)) {
    if (path.extname(file) !== '.py') continue;
    docs.push({ pkg: `deb:${pkg.name}@${pkg.version}`, license, lang: 'python', path: path.relative(base, file), text: fs.readFileSync(file, 'utf8'), heldout: false });
  }
  return { docs, vendored };
}

const normalise = (t) => t.replace(/\s+/g, ' ').trim();

/** MinHash signature over line 3-shingles; near-duplicates share a band. */
function minhash(text, k = 24) {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const sig = new Array(k).fill(0xffffffff);
  for (let i = 0; i + 2 < Math.max(lines.length, 3); i++) {
    const sh = lines.slice(i, i + 3).join('\n');
    const h = createHash('md5').update(sh).digest();
    for (let j = 0; j < k; j++) {
      const v = (h.readUInt32LE((j % 4) * 4) ^ Math.imul(j + 1, 0x9e3779b1)) >>> 0;
      if (v < sig[j]) sig[j] = v;
    }
  }
  return sig;
}

function dedupe(docs) {
  const exact = new Set();
  const bands = new Map();
  const kept = [];
  let exactDupes = 0;
  let nearDupes = 0;
  for (const d of docs) {
    const h = createHash('sha256').update(normalise(d.text)).digest('hex');
    if (exact.has(h)) { exactDupes++; continue; }
    exact.add(h);
    const sig = minhash(d.text);
    const keys = [];
    for (let b = 0; b < 6; b++) keys.push(`${b}:${sig.slice(b * 4, b * 4 + 4).join(',')}`);
    if (keys.some((key) => bands.has(key))) { nearDupes++; continue; }
    for (const key of keys) bands.set(key, true);
    kept.push(d);
  }
  return { kept, exactDupes, nearDupes };
}

function main() {
  refuseEvaluationSources();
  fs.mkdirSync(out, { recursive: true });
  const all = [];
  for (const pkg of sources.npm) {
    const docs = npmDocs(pkg).map((d) => ({ ...d, heldout: !!pkg.heldout }));
    all.push(...docs);
    process.stdout.write(`  ${pkg.name}@${pkg.version}: ${docs.length} files\n`);
  }
  all.push(...pythonDocs(sources.python));
  const skipDirs = new Set(sources.debian.skipDirs);
  let vendoredFiles = 0;
  for (const pkg of sources.debian.packages) {
    const { docs, vendored } = debDocs(pkg, skipDirs);
    all.push(...docs);
    vendoredFiles += vendored;
    process.stdout.write(`  ${pkg.name}=${pkg.version}: ${docs.length} files (${docs[0]?.license ?? '-'})\n`);
  }

  // Vendored copies of evaluation-only packages (a directory or file named after one) never reach any split.
  const clean = all.filter((d) => !namesEvaluationPackage(d.path));
  const evaluationOnlyDropped = all.length - clean.length;
  const filtered = clean.filter((d) => looksHandWritten(d.path, d.text));
  // Held-out documents go first so that a held-out file is never dropped in favour of its training twin;
  // instead the training copy is dropped, keeping the split clean of leakage.
  filtered.sort((a, b) => Number(b.heldout) - Number(a.heldout));
  const { kept, exactDupes, nearDupes } = dedupe(filtered);

  const perPkg = new Map();
  const train = [];
  const heldout = [];
  for (const d of kept) {
    const used = perPkg.get(d.pkg) ?? { files: 0, bytes: 0, license: d.license, lang: new Set(), heldout: d.heldout };
    if (used.bytes + d.text.length > limits.maxBytesPerPackage) continue;
    used.files++; used.bytes += Buffer.byteLength(d.text); used.lang.add(d.lang);
    perPkg.set(d.pkg, used);
    (d.heldout ? heldout : train).push(d);
  }
  const write = (name, docs) => fs.writeFileSync(path.join(out, name), docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  write('train.jsonl', train);
  write('heldout.jsonl', heldout);

  const bytes = (docs) => docs.reduce((s, d) => s + Buffer.byteLength(d.text), 0);
  const summary = {
    files: { scanned: all.length, vendoredSkipped: vendoredFiles, evaluationOnlyDropped, handWritten: filtered.length,
      exactDuplicates: exactDupes, nearDuplicates: nearDupes, overPackageCap: kept.length - train.length - heldout.length },
    train: { files: train.length, bytes: bytes(train) },
    heldout: { files: heldout.length, bytes: bytes(heldout) },
    byLanguage: Object.fromEntries(['python', 'typescript', 'javascript'].map((l) => [l, {
      train: bytes(train.filter((d) => d.lang === l)), heldout: bytes(heldout.filter((d) => d.lang === l)) }])),
    packages: [...perPkg.entries()].map(([pkg, u]) => ({ pkg, license: u.license, split: u.heldout ? 'heldout' : 'train', files: u.files, bytes: u.bytes, languages: [...u.lang] })),
  };
  fs.writeFileSync(path.join(here, 'corpus-summary.json'), JSON.stringify(summary, null, 1) + '\n');
  console.log(`corpus: train ${summary.train.files} files ${(summary.train.bytes / 1e6).toFixed(1)} MB, ` +
    `heldout ${summary.heldout.files} files ${(summary.heldout.bytes / 1e6).toFixed(1)} MB, ` +
    `dropped ${evaluationOnlyDropped} files naming evaluation-only packages, ${exactDupes} exact and ${nearDupes} near duplicates`);
  for (const l of ['python', 'typescript', 'javascript']) console.log(`  ${l}: train ${(summary.byLanguage[l].train / 1e6).toFixed(1)} MB, heldout ${(summary.byLanguage[l].heldout / 1e6).toFixed(1)} MB`);
}

main();

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dispatchFromWebview, MAX_SVG_CHARS, parseFromWebview, svgProblem, type WebviewHandlers } from '../../src/protocol';
import { viewTrace } from '../../src/ui/visualiser/view';
import { exportSvg, type Palette } from '../../webview/svg';
import { chainTrace } from './helpers/traces';

const PALETTE: Palette = {
  fg: '#cccccc', muted: '#9d9d9d', bg: '#1f1f1f', box: '#202020', border: '#454545', accepted: '#89d185', rejected: '#8b949e',
  bonus: '#3794ff', recovered: '#d18616', masked: '#b180d7', exit: ['#3794ff', '#89d185', '#cca700', '#d18616', '#f14c4c', '#b180d7'],
};
const goodSvg = exportSvg(viewTrace({ trace: chainTrace(), uri: 'file:///a.ts', languageId: 'ts', shown: '', firstMs: 1, totalMs: 2, at: 0, prefetch: false, live: false }), 0, PALETTE);

/** Counts calls to each handler and to `ignored`. */
function recorder() {
  const calls: string[] = [];
  const handlers: WebviewHandlers = { ready: () => calls.push('ready'), select: () => calls.push('select'), export: () => calls.push('export') };
  const ignored: string[] = [];
  return { calls, handlers, ignored, note: (e: string) => ignored.push(e) };
}

test('the three valid messages parse and reach their handler', () => {
  const r = recorder();
  dispatchFromWebview({ type: 'ready' }, r.handlers, r.note);
  dispatchFromWebview({ type: 'select', id: 3 }, r.handlers, r.note);
  dispatchFromWebview({ type: 'export', svg: goodSvg, name: 'hasten-completion-7-step-0.svg' }, r.handlers, r.note);
  assert.deepEqual(r.calls, ['ready', 'select', 'export']);
  assert.deepEqual(r.ignored, []);
});

test('named malformed messages are refused with a reason', () => {
  const cases: [unknown, RegExp][] = [
    [null, /not an object \(null\)/],
    [[{ type: 'ready' }], /array/],
    ['ready', /string/],
    [{}, /unknown message type/],
    [{ type: 'nope' }, /unknown message type "nope"/],
    [{ type: 'ready', extra: 1 }, /unexpected field "extra"/],
    [{ type: 'select', id: -1 }, /id is not a non-negative integer/],
    [{ type: 'select', id: 1.5 }, /id/],
    [{ type: 'select', id: '3' }, /id/],
    [{ type: 'select', id: Number.NaN }, /id/],
    [{ type: 'select' }, /id/],
    [{ type: 'export', svg: goodSvg, name: '../evil.svg' }, /name/],
    [{ type: 'export', svg: goodSvg, name: 'x.svg.exe' }, /name/],
    [{ type: 'export', svg: goodSvg, name: '.svg' }, /name/],
    [{ type: 'export', svg: 42, name: 'a.svg' }, /svg is not a string/],
    [{ type: 'export', svg: '<html></html>', name: 'a.svg' }, /does not start with <svg/],
    [{ type: 'export', svg: '<svg><rect/></svg>', name: 'a.svg' }, /namespace/],
    [{ type: 'export', svg: goodSvg.replace('</svg>', '<script>alert(1)</script></svg>'), name: 'a.svg' }, /element the exporter never writes/],
    [{ type: 'export', svg: goodSvg.replace('<rect ', '<rect onload="alert(1)" '), name: 'a.svg' }, /event handler/],
    [{ type: 'export', svg: goodSvg.replace('<rect ', '<rect href="https://example.com/x" '), name: 'a.svg' }, /link/],
    [{ type: 'export', svg: goodSvg.replace('</svg>', '<foreignObject><div/></foreignObject></svg>'), name: 'a.svg' }, /element/],
    [{ type: 'export', svg: goodSvg.replace('</svg>', '<image href="x"/></svg>'), name: 'a.svg' }, /element/],
    [{ type: 'export', svg: goodSvg.replace('<rect ', '<rect fill="url(https://x/y)" '), name: 'a.svg' }, /URL/],
    [{ type: 'export', svg: goodSvg.replace(/<\/svg>\s*$/, `<!--${'x'.repeat(MAX_SVG_CHARS)}--></svg>`), name: 'a.svg' }, /over/],
    [{ type: 'export', svg: goodSvg.replace(/<\/svg>\s*$/, ''), name: 'a.svg' }, /does not end/],
  ];
  for (const [raw, why] of cases) {
    const p = parseFromWebview(raw);
    assert.equal(p.ok, false, JSON.stringify(raw)?.slice(0, 80));
    assert.match((p as { error: string }).error, why);
  }
});

test('a type inherited through a polluted prototype does not count, and a throwing getter is caught', () => {
  const r = recorder();
  const inherited = Object.create({ type: 'ready' }) as object;
  dispatchFromWebview(inherited, r.handlers, r.note);
  const throwing = { get type(): string { throw new Error('boom'); } };
  dispatchFromWebview(throwing, r.handlers, r.note);
  const proxy = new Proxy({}, { ownKeys: () => { throw new Error('trap'); }, get: () => 'ready', has: () => true, getOwnPropertyDescriptor: () => ({ value: 'ready', configurable: true, enumerable: true }) });
  dispatchFromWebview(proxy, r.handlers, r.note);
  assert.deepEqual(r.calls, []);
  assert.equal(r.ignored.length, 3);
  assert.match(r.ignored[1]!, /unreadable message \(boom\)/);
});

test('token text that looks like markup survives export escaped, and the export passes its own check', () => {
  const t = chainTrace();
  t.steps[0]!.nodes[0]!.text = '<script>alert("x")</script> javascript:x data:y onload=z';
  const svg = exportSvg(viewTrace({ trace: t, uri: 'file:///a.ts', languageId: 'ts', shown: '', firstMs: 1, totalMs: 2, at: 0, prefetch: false, live: false }), 0, PALETTE);
  assert.equal(svgProblem(svg), null);
  assert.ok(!svg.includes('<script'));
  assert.ok(svg.includes('&lt;script&gt;'));
});

// --- Generated malformed messages -------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failure names a reproducible case. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DANGEROUS = ['<script>x</script>', '<a href="x">', ' onclick="x"', '<foreignObject/>', 'javascript:alert(1)', 'url(https://e.com)', '<use href="#a"/>', '@import "x";', '<image href="data:,x"/>'];
const BAD_NAMES = ['', 'a', '../x.svg', 'x/y.svg', 'x.png', 'C:\\x.svg', '.svg', 'x'.repeat(100) + '.svg', 'a b.svg', 'a.svg\n', '~/.ssh/x.svg'];
const JUNK: unknown[] = [null, undefined, 0, -1, 1.5, NaN, Infinity, '', 'ready', true, false, [], {}, [1, 2], { type: 1 }, Symbol.iterator, () => 1, 10n];

function junk(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 5 : 8));
  switch (k) {
    case 0: return JUNK[Math.floor(r() * JUNK.length)];
    case 1: return Math.floor(r() * 2e9) - 1e9 + (r() < 0.3 ? 0.5 : 0);
    case 2: return String.fromCharCode(...Array.from({ length: Math.floor(r() * 12) }, () => Math.floor(r() * 0xffff)));
    case 3: return r() < 0.5;
    case 4: return null;
    case 5: return Array.from({ length: Math.floor(r() * 4) }, () => junk(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [['type', 'id', 'svg', 'name', '__proto__', 'constructor'][Math.floor(r() * 6)] ?? `k${i}`, junk(r, depth + 1)]));
  }
}

/** A message that must be refused, built one of several ways from a valid one or from nothing. */
function malformed(r: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  switch (Math.floor(r() * 8)) {
    case 0: { // random junk that is not a record with a known type
      const j = junk(r);
      return j !== null && typeof j === 'object' && !Array.isArray(j) ? { ...j, type: `x${Math.floor(r() * 100)}` } : j;
    }
    case 1: return { type: pick(['ready', 'select', 'export']), [`extra${Math.floor(r() * 9)}`]: junk(r) }; // an extra field
    case 2: return { type: 'select', id: pick([-1, -0.5, 2.5, NaN, Infinity, -Infinity, '1', null, undefined, {}, [], true, 2 ** 60]) };
    case 3: return { type: 'export', svg: junk(r), name: 'ok.svg' }; // svg of any non-string type, or a random string
    case 4: return { type: 'export', svg: goodSvg, name: pick(BAD_NAMES) };
    case 5: { // a valid export with something dangerous spliced in at a random place inside the root element
      const at = goodSvg.indexOf('>', goodSvg.indexOf('<svg')) + 1 + Math.floor(r() * 20);
      const cut = goodSvg.lastIndexOf('>', at) + 1;
      return { type: 'export', svg: goodSvg.slice(0, cut) + pick(DANGEROUS) + goodSvg.slice(cut), name: 'ok.svg' };
    }
    case 6: return { type: pick(['READY', 'Ready', ' ready', 'select ', 'exported', 'trace', 'update', '']), id: 1 }; // near-miss type names
    default: { // a valid message with one field dropped or retyped
      const base: Record<string, unknown> = pick([{ type: 'select', id: 1 }, { type: 'export', svg: goodSvg, name: 'a.svg' }]);
      const key = pick(Object.keys(base).filter((k) => k !== 'type'));
      return r() < 0.5 ? { ...base, [key]: undefined } : { ...base, [key]: pick([[], {}, null, '12', 12.5, true]) };
    }
  }
}

test('2,000 generated malformed messages: none throws, none reaches a handler, each is reported once', () => {
  const r = prng(0x5eed);
  for (let i = 0; i < 2000; i++) {
    const msg = malformed(r);
    const rec = recorder();
    assert.doesNotThrow(() => dispatchFromWebview(msg, rec.handlers, rec.note), `case ${i}`);
    assert.deepEqual(rec.calls, [], `case ${i} acted: ${String(JSON.stringify(msg, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))?.slice(0, 200)}`);
    assert.equal(rec.ignored.length, 1, `case ${i}`);
  }
});

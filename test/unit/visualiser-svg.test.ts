import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { svgProblem } from '../../src/protocol';
import { contentSecurityPolicy, makeNonce, visualiserHtml } from '../../src/ui/visualiser/html';
import { viewTrace, type TraceSource } from '../../src/ui/visualiser/view';
import { exportSvg, remaskSvg, stripSvg, treeSvg, wrap, type Palette } from '../../webview/svg';
import { chainTrace, earlyExitTrace, maskPredictTrace, selfSpecTrace, treeTrace } from './helpers/traces';
import type { CompletionTrace } from '../../src/engine';

const PALETTE: Palette = {
  fg: '#cccccc', muted: '#9d9d9d', bg: '#1f1f1f', box: '#202020', border: '#454545', accepted: '#89d185', rejected: '#8b949e',
  bonus: '#3794ff', recovered: '#d18616', masked: '#b180d7', exit: ['#3794ff', '#89d185', '#cca700', '#d18616', '#f14c4c', '#b180d7'],
};
const view = (t: CompletionTrace) => viewTrace({ trace: t, uri: 'file:///w/a.ts', languageId: 'typescript', shown: '', firstMs: 3, totalMs: 30, at: 0, prefetch: false, live: false } satisfies TraceSource);
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

/** Tags open and close in order (a small well-formedness check; node has no XML parser). */
function balanced(xml: string): boolean {
  const stack: string[] = [];
  for (const m of xml.replace(/<\?xml[^>]*\?>/, '').matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    if (m[3]) continue;
    if (m[1]) {
      if (stack.pop() !== m[2]) return false;
    } else stack.push(m[2]!);
  }
  return stack.length === 0;
}

test('the tree of a step has one node per draft node, classed accepted or rejected, plus the root and the bonus', () => {
  const v = view(treeTrace());
  const svg = treeSvg(v.steps[0]!).body;
  assert.equal(count(svg, /class="node accepted"/g), 2);
  assert.equal(count(svg, /class="node rejected"/g), 3);
  assert.equal(count(svg, /class="node recovered"/g), 1);
  assert.equal(count(svg, /class="node root"/g), 1);
  assert.equal(count(svg, /class="link accepted"/g), 2);
  assert.equal(count(svg, /class="link rejected"/g), 3);
  // Hover details name both probabilities and the position.
  assert.match(svg, /<title>accepted “a” · draft probability 80\.0% · target probability 90\.0% · position 0 \(depth 1\)<\/title>/);
  assert.ok(!/style=/.test(svg), 'the live view has no inline style (the CSP forbids it)');
});

test('chain tokens show whitespace as ␣ ⏎ and probabilities as q/p', () => {
  const svg = treeSvg(view(chainTrace()).steps[1]!).body;
  assert.match(svg, />⏎<\/text>/);
  assert.match(svg, />q\.80 p\.90<\/text>/);
  assert.match(svg, />\+ p\.95<\/text>/);
  assert.match(treeSvg(view(chainTrace()).steps[0]!).body, />␣=<\/text>/);
});

test('the strip colours tokens by exit layer when there are layers, by origin otherwise, and marks drafted-and-accepted', () => {
  const ee = stripSvg(view(earlyExitTrace()), 600).body;
  assert.match(ee, /data-exit-layers="true"/);
  assert.equal(count(ee, /class="token exit-\d bonus"/g), 6);
  assert.match(ee, /layer 2<\/text>/);
  assert.match(ee, /layer 8<\/text>/);
  const ss = stripSvg(view(selfSpecTrace()), 600).body;
  assert.equal(count(ss, /class="drafted-mark"/g), 3);
  const plain = stripSvg(view(chainTrace()), 600).body;
  assert.match(plain, /data-exit-layers="false"/);
  assert.equal(count(plain, /class="token origin-accepted accepted"/g), 4);
  assert.match(plain, /no exit layers/);
});

test('Mask-Predict draws a row per iteration with its re-masked positions; other traces draw none', () => {
  const rm = remaskSvg(view(maskPredictTrace()))!;
  assert.equal(count(rm.body, /iteration \d<\/text>/g), 3);
  assert.equal(count(rm.body, /class="slot masked"/g), 4);
  assert.match(rm.body, /position 3: “d”, kept/);
  assert.equal(remaskSvg(view(chainTrace())), null);
});

test('the export is a standalone SVG: namespace, painted from the palette, no theme variables, well formed, accepted by the save check', () => {
  for (const t of [chainTrace(), treeTrace(), earlyExitTrace(), selfSpecTrace(), maskPredictTrace()]) {
    const svg = exportSvg(view(t), 0, PALETTE);
    assert.equal(svgProblem(svg), null, t.strategy);
    assert.ok(balanced(svg), `${t.strategy}: tags balance`);
    assert.ok(!svg.includes('var('), 'no CSS variables: they mean nothing outside VS Code');
    assert.match(svg, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/);
    assert.match(svg, /fill="#1f1f1f"/);
    assert.match(svg, new RegExp(`completion #${t.id}`));
    assert.match(svg, new RegExp(`estimated speed-up over autoregressive decoding: .*estimate: `));
  }
  const chain = exportSvg(view(chainTrace()), 1, PALETTE);
  assert.match(chain, /Acceptance tree, step 2 \(draft-model\): 2 of 2 drafted accepted, 3 emitted/);
  assert.match(chain, /stroke="#89d185"/);
  assert.match(exportSvg(view(earlyExitTrace()), 0, PALETTE), />Exit layers</);
});

test('the panel HTML: default-src none, one nonce\'d script, our stylesheet, nothing remote, no inline style', () => {
  const nonce = makeNonce();
  assert.match(nonce, /^[A-Za-z0-9+/]{22}==$/);
  assert.notEqual(nonce, makeNonce());
  const src = 'https://file+.vscode-resource.vscode-cdn.net';
  const html = visualiserHtml({ cspSource: src, nonce, script: `${src}/ext/dist/webview.js`, style: `${src}/ext/media/visualiser.css` });
  const csp = contentSecurityPolicy(src, nonce);
  assert.ok(html.includes(`content="${csp}"`));
  assert.match(csp, /^default-src 'none'; /);
  assert.ok(csp.endsWith(`script-src 'nonce-${nonce}'`));
  assert.ok(!csp.includes('unsafe'));
  assert.equal(count(html, /<script /g), 1);
  assert.ok(html.includes(`<script nonce="${nonce}" src="${src}/ext/dist/webview.js">`));
  assert.ok(!/style=|<style/.test(html));
  for (const url of html.match(/https?:\/\/[^"\s]+/g) ?? []) assert.ok(url.startsWith(src), url);
});

test('media/visualiser.css takes every colour from the theme', () => {
  const css = readFileSync(join(__dirname, '..', '..', 'media', 'visualiser.css'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  assert.ok(!/#[0-9a-f]{3,8}\b|rgba?\(|hsla?\(/i.test(css), 'no literal colours');
  for (const m of css.matchAll(/var\((--[\w-]+)/g)) assert.match(m[1]!, /^--(vscode|hv)-/);
});

test('long export lines wrap at spaces (SVG text does not)', () => {
  assert.deepEqual(wrap('aaa bbb ccc', 7), ['aaa bbb', '  ccc']);
  assert.deepEqual(wrap('short', 80), ['short']);
  const svg = exportSvg(view(chainTrace()), 0, PALETTE);
  for (const m of svg.matchAll(/<text class="label"[^>]*>([^<]*)<\/text>/g)) assert.ok(m[1]!.length <= 160, m[1]);
});

// The visualiser's browser entry, bundled by esbuild.js into dist/webview.js. It draws the trace the
// extension sends (src/protocol.ts), keeps what it shows in the webview state so a reload restores
// it, and posts only `ready`, `select` and `export` back.
import type { FromWebview, HistoryEntry, ToWebview, ViewTrace } from '../src/protocol';
import { num, percent } from './format';
import { draftCounts, exportSvg, inlineSvg, remaskSvg, stripSvg, summaryLines, treeSvg, type Palette } from './svg';

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): unknown;
  setState(state: State): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

interface State {
  v: 1;
  trace: ViewTrace | null;
  history: HistoryEntry[];
  step: number;
  follow: boolean;
}

const vscode = acquireVsCodeApi();
const state: State = restore(vscode.getState());

function restore(saved: unknown): State {
  const s = saved as Partial<State> | undefined;
  const ok = s && s.v === 1 && Array.isArray(s.history) && typeof s.step === 'number' && (s.trace === null || (typeof s.trace === 'object' && Array.isArray(s.trace?.steps)));
  return ok ? (s as State) : { v: 1, trace: null, history: [], step: 0, follow: true };
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function skeleton(): void {
  $('root').innerHTML = `
    <header class="bar">
      <h1>Hasten visualiser</h1>
      <label>Completion <select id="history" aria-label="Recent completions"></select></label>
      <label class="check"><input type="checkbox" id="follow"> Follow newest</label>
      <button id="export" type="button" title="Save this view as an SVG file">Export SVG</button>
      <span id="status" role="status"></span>
    </header>
    <p id="empty" class="muted">Waiting for the first completion. Type in an editor and Hasten's traces appear here.</p>
    <div id="view" hidden>
      <section><dl id="summary" class="summary"></dl><p id="estimate" class="muted small"></p></section>
      <section><h2>Steps <span class="muted small">tokens produced per draft–verify–accept step</span></h2><div id="steps" class="steps" role="toolbar" aria-label="Steps"></div></section>
      <section><h2 id="tree-title">Acceptance tree</h2>
        <p class="muted small">Left to right from the last committed token. <span class="key accepted">accepted</span> <span class="key rejected">rejected</span> <span class="key bonus">+ bonus</span> <span class="key recovered">↺ recovered</span> · q = draft probability, p = target probability</p>
        <div id="tree" class="scroll"></div><p id="details" class="details" aria-live="polite">Hover or focus a node for its details.</p></section>
      <section><h2 id="strip-title">Exit layers</h2><div id="strip"></div></section>
      <section id="remask-section" hidden><h2>Mask-Predict: re-masked positions</h2><div id="remask" class="scroll"></div></section>
    </div>`;
}

function save(): void {
  vscode.setState(state);
}

function post(message: FromWebview): void {
  vscode.postMessage(message);
}

function renderHistory(): void {
  const select = $<HTMLSelectElement>('history');
  select.replaceChildren();
  const entries = state.history.length ? state.history : state.trace ? [{ id: state.trace.id, label: `#${state.trace.id} (restored)`, live: false, followed: true }] : [];
  for (const h of [...entries].reverse()) {
    const o = document.createElement('option');
    o.value = String(h.id);
    o.textContent = h.label;
    select.append(o);
  }
  if (state.trace) select.value = String(state.trace.id);
  select.disabled = entries.length === 0;
  $<HTMLInputElement>('follow').checked = state.follow;
}

function renderSummary(t: ViewTrace): void {
  const s = t.summary;
  const rows: [string, string][] = [
    ['Strategy', s.strategy],
    ['Model', s.drafter && s.drafter !== 'none' ? `${s.model} (drafter: ${s.drafter})` : s.model],
    ['Tokens/s', num(s.tokensPerSecond)],
    ['Acceptance rate', s.acceptanceRate === null ? '– (nothing drafted)' : `${percent(s.acceptanceRate)} (${s.accepted} of ${s.drafted})`],
    ['Mean accepted / step', num(s.meanAcceptedPerStep, 2)],
    ['Tokens / step', num(s.tokensPerStep, 2)],
    ['Est. speed-up vs autoregressive', s.speedup.value === null ? '–' : `≈ ${s.speedup.value.toFixed(2)}× (estimate)`],
    ['Tokens · steps', `${s.tokens} · ${s.steps}${t.truncatedSteps ? ` (${t.truncatedSteps} more not shown)` : ''}`],
    ['Prompt', `${s.promptTokens} tokens (${s.reusedTokens} reused)`],
    ['Prefill · decode', `${num(s.prefillMs)} ms · ${num(s.decodeMs)} ms`],
    ['First shown · total', `${num(t.firstMs, 0)} ms · ${num(t.totalMs, 0)} ms`],
    ['Stop', t.live ? 'decoding…' : s.stopReason],
    ['File', `${t.file || '–'}${t.prefetch ? ' (prefetch)' : ''}`],
  ];
  if (s.maxExitLayer !== null) rows.splice(6, 0, ['Mean exit layer', `${num(s.meanExitLayer, 2)} (deepest ${s.maxExitLayer})`]);
  const dl = $('summary');
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dd.dataset.field = k;
    const pair = document.createElement('div');
    pair.append(dt, dd);
    dl.append(pair);
  }
  $('estimate').textContent = `Speed-up is an estimate: ${s.speedup.method}.`;
}

function renderSteps(t: ViewTrace): void {
  const box = $('steps');
  box.replaceChildren();
  t.steps.forEach((s, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `step${i === state.step ? ' selected' : ''}`;
    b.dataset.index = String(i);
    b.dataset.emitted = String(s.emitted);
    b.title = `Step ${s.step + 1} (${s.drafter}): ${s.emitted} token${s.emitted === 1 ? '' : 's'}, ${s.accepted} of ${s.nodes.length} drafted accepted${s.bonus ? `, ${s.bonus.kind}` : ''}; ${num(s.totalMs)} ms`;
    b.setAttribute('aria-pressed', String(i === state.step));
    const label = document.createElement('span');
    label.textContent = `#${s.step + 1}`;
    const pips = document.createElement('span');
    pips.className = 'pips';
    for (let k = 0; k < s.accepted; k++) pips.append(pip('accepted'));
    if (s.bonus) pips.append(pip(s.bonus.kind));
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = String(s.emitted);
    b.append(label, pips, count);
    box.append(b);
  });
}

function pip(kind: string): HTMLElement {
  const p = document.createElement('span');
  p.className = `pip ${kind}`;
  return p;
}

function renderTree(t: ViewTrace): void {
  const step = t.steps[state.step];
  const title = $('tree-title');
  if (!step) {
    title.textContent = 'Acceptance tree';
    $('tree').textContent = 'No steps yet.';
    return;
  }
  title.textContent = `Acceptance tree · step ${state.step + 1} of ${t.steps.length} · ${step.drafter} · ${draftCounts(step)}`;
  // Markup from svg.ts, whose every text and attribute value goes through esc().
  $('tree').innerHTML = inlineSvg(treeSvg(step), 'tree-svg', `Acceptance tree of step ${state.step + 1}`);
}

function renderStrip(t: ViewTrace): void {
  // The strip wraps to the panel's width (down to 240 px); the tree scrolls in its own box.
  const width = Math.max(240, $('view').clientWidth - 24);
  const drawn = stripSvg(t, width);
  const layered = t.strip.some((s) => s.exitLayer !== undefined);
  $('strip-title').textContent = layered ? 'Exit layers' : 'Output tokens';
  $('strip').innerHTML = inlineSvg(drawn, 'strip-svg', layered ? 'Output tokens coloured by exit layer' : 'Output tokens by origin');
  const rm = remaskSvg(t);
  $('remask-section').hidden = rm === null;
  $('remask').innerHTML = rm ? inlineSvg(rm, 'remask-svg', 'Re-masked positions per Mask-Predict iteration') : '';
}

function render(): void {
  renderHistory();
  const t = state.trace;
  $('empty').hidden = t !== null;
  $('view').hidden = t === null;
  $<HTMLButtonElement>('export').disabled = t === null;
  if (!t) return;
  state.step = Math.max(0, Math.min(state.step, t.steps.length - 1));
  renderSummary(t);
  renderSteps(t);
  renderTree(t);
  renderStrip(t);
  document.title = `Hasten visualiser · ${summaryLines(t)[0]}`;
}

/** Shows `trace`: a live decode at its newest step, another completion from its first step. */
function show(trace: ViewTrace | null): void {
  const changed = trace?.id !== state.trace?.id;
  state.trace = trace;
  if (trace?.live) state.step = trace.steps.length - 1;
  else if (changed) state.step = 0;
  render();
  save();
}

function onMessage(m: ToWebview): void {
  switch (m.type) {
    case 'update':
      state.history = m.history;
      if (state.follow || !state.trace) show(m.trace ?? state.trace);
      else {
        renderHistory();
        save();
      }
      return;
    case 'trace':
      show(m.trace);
      return;
    case 'exported':
      $('status').textContent = `Saved ${m.path}`;
      return;
    case 'exportFailed':
      $('status').textContent = `Export failed: ${m.message}`;
      return;
  }
}

/** The theme's colours for the export, from the --hv-* variables media/visualiser.css defines. */
function palette(): Palette {
  const css = getComputedStyle(document.body);
  const get = (name: string, fallback: string) => {
    const v = css.getPropertyValue(`--hv-${name}`).trim();
    return /^(#[0-9a-f]{3,8}|rgba?\([\d\s.,%/]+\)|[a-z]+)$/i.test(v) ? v : fallback;
  };
  return {
    fg: get('fg', '#333'), muted: get('muted', '#777'), bg: get('bg', '#fff'), box: get('box', '#f3f3f3'), border: get('border', '#999'),
    accepted: get('accepted', '#388a34'), rejected: get('rejected', '#999'), bonus: get('bonus', '#1a85ff'), recovered: get('recovered', '#d18616'),
    masked: get('masked', '#652d90'),
    exit: ['#1a85ff', '#388a34', '#bf8803', '#d18616', '#e51400', '#652d90'].map((f, i) => get(`exit-${i}`, f)),
  };
}

function wire(): void {
  $('history').addEventListener('change', (e) => {
    const id = Number((e.target as HTMLSelectElement).value);
    // Picking an older completion stops following, or the next completion would replace it at once.
    const newest = [...state.history].reverse().find((h) => h.followed);
    if (newest?.id !== id) state.follow = false;
    renderHistory();
    save();
    post({ type: 'select', id });
  });
  $('follow').addEventListener('change', (e) => {
    state.follow = (e.target as HTMLInputElement).checked;
    save();
    if (state.follow) post({ type: 'ready' });
  });
  $('steps').addEventListener('click', (e) => {
    const b = (e.target as HTMLElement).closest<HTMLElement>('button.step');
    if (!b || !state.trace) return;
    state.step = Number(b.dataset.index);
    renderSteps(state.trace);
    renderTree(state.trace);
    save();
  });
  $('steps').addEventListener('keydown', (e) => {
    if (!state.trace || (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight')) return;
    state.step = Math.max(0, Math.min(state.trace.steps.length - 1, state.step + (e.key === 'ArrowRight' ? 1 : -1)));
    renderSteps(state.trace);
    renderTree(state.trace);
    $('steps').querySelector<HTMLElement>('button.selected')?.focus();
    save();
  });
  const details = (e: Event) => {
    const node = (e.target as Element).closest?.('.node');
    const title = node?.querySelector('title')?.textContent;
    if (title) $('details').textContent = title;
  };
  $('tree').addEventListener('mouseover', details);
  $('tree').addEventListener('focusin', details);
  $('export').addEventListener('click', () => {
    const t = state.trace;
    if (!t) return;
    const step = state.step + 1;
    post({ type: 'export', svg: exportSvg(t, state.step, palette()), name: `hasten-completion-${t.id}-step-${step}.svg` });
  });
  let resize: number | undefined;
  window.addEventListener('resize', () => {
    clearTimeout(resize);
    resize = window.setTimeout(() => state.trace && renderStrip(state.trace), 150);
  });
  window.addEventListener('message', (e: MessageEvent) => {
    const m = e.data as ToWebview | undefined;
    if (m && typeof m === 'object' && typeof m.type === 'string') onMessage(m);
  });
}

skeleton();
wire();
render();
post({ type: 'ready' });

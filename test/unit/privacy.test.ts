// Hasten makes no network access. With every Node networking entry point patched to record and
// throw, the real engine (bundled models) runs the whole completion pipeline: loading, completion
// with every strategy, workspace retrieval, prefetch and the benchmark. And a static check keeps
// networking modules and calls out of src/.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { readConfig } from '../../src/config';
import { runBenchmark, benchmarkPoints } from '../../src/completion/benchmark';
import { stringSource, windowsAt } from '../../src/completion/context';
import { EngineHost } from '../../src/completion/engineHost';
import { TraceHistory } from '../../src/completion/history';
import { RetrievalFeed } from '../../src/completion/retrievalFeed';
import { CompletionService, type Log } from '../../src/completion/service';
import { GREEDY, STRATEGY_IDS } from '../../src/engine';

const ROOT = path.join(__dirname, '..', '..');
const attempts: string[] = [];
const restore: (() => void)[] = [];

function trap(obj: object, name: string, label: string): void {
  const o = obj as Record<string, unknown>;
  const original = o[name];
  o[name] = (...args: unknown[]) => {
    attempts.push(`${label}(${String(args[0]).slice(0, 80)})`);
    throw new Error(`network access attempted: ${label}`);
  };
  restore.push(() => (o[name] = original));
}

before(() => {
  trap(net, 'connect', 'net.connect');
  trap(net, 'createConnection', 'net.createConnection');
  trap(net.Socket.prototype, 'connect', 'net.Socket.connect');
  trap(tls, 'connect', 'tls.connect');
  trap(http, 'request', 'http.request');
  trap(http, 'get', 'http.get');
  trap(https, 'request', 'https.request');
  trap(https, 'get', 'https.get');
  trap(http2, 'connect', 'http2.connect');
  trap(dgram, 'createSocket', 'dgram.createSocket');
  trap(dns, 'lookup', 'dns.lookup');
  trap(dns, 'resolve', 'dns.resolve');
  trap(dns.promises, 'lookup', 'dns.promises.lookup');
  trap(globalThis, 'fetch', 'fetch');
});

after(() => restore.forEach((r) => r()));

const quiet: Log = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

test('the completion pipeline on the bundled models makes no network access', { timeout: 180_000 }, async () => {
  const cfg = readConfig({ get: <T>(_k: string, d: T) => d });
  const host = new EngineHost(path.join(ROOT, 'models'), quiet);
  await host.load(cfg.engine);
  const engine = host.engine!;
  assert.ok(engine, `engine loaded (${JSON.stringify(host.status)})`);
  try {
    const file = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'workspace', 'src', 'fibonacci.ts'), 'utf8');
    const feed = new RetrievalFeed(() => engine.retrieval, () => 100_000, quiet);
    feed.schedule('file:///fibonacci.ts', () => file, 0);
    await feed.flush();
    assert.equal(feed.updates, 1);
    const history = new TraceHistory();
    for (const strategy of STRATEGY_IDS) {
      const completion = { ...cfg.completion, debounceMs: 0, prefetch: true };
      const service = new CompletionService({ engine: () => engine, decode: () => ({ ...cfg.decode, strategy, maxTokens: 12 }), completion: () => completion, log: quiet, history });
      const offset = file.indexOf('\n', 60);
      const req = { uri: 'file:///fibonacci.ts', languageId: 'typescript', version: 1, offset, context: { chunks: [{ source: 'other.ts', text: 'const x = 1;\nconst y = 2;\nconst z = 3;' }], path: 'fibonacci.ts', comment: '//' }, ...windowsAt(stringSource(file), offset, completion) };
      const asked = history.list().filter((r) => !r.prefetch).length;
      await service.provide(req, new AbortController().signal, () => true);
      // The decode goes on after its first line is shown: wait for it to be recorded (a fixed 50 ms was too
      // short on a loaded machine), then idle() aborts the prefetch it started, so the next strategy runs
      // on caches an aborted decode left behind (test/unit/layered-abort.test.ts).
      for (const until = Date.now() + 30_000; history.list().filter((r) => !r.prefetch).length === asked && Date.now() < until;) await new Promise((r) => setTimeout(r, 10));
      await service.idle();
    }
    assert.ok(history.list().length >= STRATEGY_IDS.length, `every strategy decoded (${history.list().map((r) => r.trace.strategy).join(', ')})`);
    await runBenchmark(engine, file, benchmarkPoints(file, 1), 'auto', { maxNewTokens: 8, sampling: GREEDY });
  } finally {
    await host.dispose();
  }
  assert.deepEqual(attempts, []);
});

test('the traps work: a network call in this process is caught', () => {
  const before = attempts.length;
  assert.throws(() => http.get('http://127.0.0.1:9/'), /network access attempted/);
  assert.throws(() => dns.lookup('example.invalid', () => {}), /network access attempted/);
  assert.equal(attempts.length, before + 2);
  attempts.length = before;
});

/** Module names and calls that would reach the network. */
const NETWORK = [
  /from ['"](node:)?(net|tls|http|https|http2|dgram|dns|child_process)['"]/,
  /require\(['"](node:)?(net|tls|http|https|http2|dgram|dns|child_process)['"]\)/,
  /\bfetch\s*\(/,
  /\bXMLHttpRequest\b/,
  /\bWebSocket\b/,
  /\bEventSource\b/,
  /\bopenExternal\b/,
];

/**
 * The only ways out of the process, each in its own file(s): downloads (the hub's HTTP module, http.ts, and the
 * socket reader it uses for large bodies, directGet.ts; the user starts them; test/unit/privacy-download.test.ts
 * checks where they connect) and forking the engine's own entry
 * (test/unit/privacy-process.test.ts traps the network inside it), and forking the graph builder's entry for
 * Download Model… (its code is src/build/, which this check covers). Any other file on the list is a hit.
 */
const HUB_HTTP = path.join('src', 'engine', 'hub', 'http.ts');
/** The hub's GET for large bodies: net/tls sockets read into its own buffers (only http.ts calls it). */
const HUB_DIRECT = path.join('src', 'engine', 'hub', 'directGet.ts');
const FORKS_ENGINE = path.join('src', 'completion', 'processEngine.ts');
/** Forks the graph builder's entry (src/engine/hub/buildProcess.ts: src/build/, under this same static check). */
const FORKS_BUILDER = path.join('src', 'engine', 'hub', 'buildRunner.ts');
const ALLOWED: Record<string, RegExp> = { [HUB_HTTP]: /\b(http|https|net|tls|dns)\b|fetch/, [HUB_DIRECT]: /\b(net|tls)\b/, [FORKS_ENGINE]: /child_process/, [FORKS_BUILDER]: /child_process/ };

/** Whether every match of `re` in `text` is a use the file is allowed. */
function allowed(rel: string, text: string, re: RegExp): boolean {
  const ok = ALLOWED[rel];
  return ok !== undefined && [...text.matchAll(new RegExp(re.source, 'g'))].every((m) => ok.test(m[0]));
}

test('src/ imports no networking module and calls no network API outside the hub\'s HTTP module (downloads) and the engine fork', () => {
  const files = fs.readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
  assert.ok(files.length > 20, 'found the sources');
  const hits = files.flatMap((f) => {
    const text = fs.readFileSync(f, 'utf8');
    const rel = path.relative(ROOT, f);
    return NETWORK.filter((re) => re.test(text) && !allowed(rel, text, re)).map((re) => `${rel}: ${re}`);
  });
  for (const [file, what] of [[FORKS_ENGINE, "the engine's entry"], [FORKS_BUILDER, "the builder's entry"]]) {
    const forker = fs.readFileSync(path.join(ROOT, file!), 'utf8');
    assert.doesNotMatch(forker, /\b(exec|execFile|spawn|execSync|spawnSync|execFileSync)\(/, `${file} only forks ${what}`);
  }
  assert.deepEqual(hits, []);
  // The socket reader is reached only through http.ts.
  const importers = files.filter((f) => /from '\.\/directGet'|from '.*hub\/directGet'/.test(fs.readFileSync(f, 'utf8'))).map((f) => path.relative(ROOT, f));
  assert.deepEqual(importers.filter((f) => f !== HUB_HTTP && !/^import \{ DIRECT_BATCH \} from '\.\/directGet';$/m.test(fs.readFileSync(path.join(ROOT, f), 'utf8'))), []);
});

test('the global fetch is reached only from the hub\'s HTTP module, so downloads are the one way out', () => {
  const uses = fs.readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name))
    .filter((f) => {
      const code = fs.readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      // `fetch` as a value (`?? fetch`, `fetch(`, `typeof fetch`), not a property (`o.fetch`, `fetch:`, `fetch?:`).
      return /(^|[^\w.'"`])fetch\b(?!\s*\??:)/m.test(code);
    })
    .map((f) => path.relative(ROOT, f));
  assert.deepEqual(uses, [path.join('src', 'engine', 'hub', 'http.ts')]);
});

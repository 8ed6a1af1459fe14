// Download throughput from the loopback fake hub: Hasten's downloader (metadata, redirect to the
// CDN, write, sha256), also with the body read through node:http as before, against curl fetching the same
// file (following the same redirect, no checksum) and curl followed by sha256sum, interleaved, with
// the client's CPU seconds; then a download dropped half-way and resumed, counting the bytes the
// resumed response carries. The hub runs in a child process, so it never shares a thread with the
// downloader it serves. Usage: npx tsx bench/hubThroughput.ts [--mb 256] [--runs 3]
import { execFile, fork } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { downloadFile } from '../src/engine/hub';
import { startFakeHub } from '../test/unit/helpers/fakeHub';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

const repo = 'bench/big';
const file = 'model.safetensors';

/** Child: serves the file, answers 'fault' and 'requests' messages. */
async function serve(size: number): Promise<void> {
  const hub = await startFakeHub([{ id: repo, files: { [file]: randomBytes(size) } }], { lifetimeMs: 600_000 });
  process.on('message', (m: { kind: string; dropAt?: number }) => {
    if (m.kind === 'fault') hub.fault(repo, file, { dropAt: m.dropAt });
    if (m.kind === 'requests') process.send!({ kind: 'requests', requests: hub.requests });
    if (m.kind === 'close') void hub.close().then(() => process.exit(0));
  });
  process.send!({ kind: 'ready', url: hub.url });
}

async function main(): Promise<void> {
  const mb = arg('mb', 256);
  const runs = arg('runs', 3);
  const size = mb * 1024 * 1024;
  const child = fork(__filename, ['--serve', String(size)], { execArgv: ['--import', 'tsx'] });
  const next = <T>(kind: string) => new Promise<T>((resolve) => {
    const on = (m: { kind: string }) => {
      if (m.kind !== kind) return;
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
  const { url: endpoint } = await next<{ url: string }>('ready');
  const hub = {
    url: endpoint,
    fault: (_r: string, _f: string, f: { dropAt: number }) => child.send({ kind: 'fault', dropAt: f.dropAt }),
    requests: async () => (child.send({ kind: 'requests' }), (await next<{ requests: { server: string; method: string; range?: string; bytes: number }[] }>('requests')).requests),
    close: async () => (child.send({ kind: 'close' }), await new Promise((r) => child.once('exit', r))),
  };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-hubbench-'));
  const url = `${hub.url}/${repo}/resolve/main/${file}`;
  // Hasten's downloader reading the body into its batch buffers and through node:http (64 KiB mark), curl, and curl then
  // sha256sum (the check Hasten's downloader makes). MB/s and CPU seconds of the client (this process, worker included;
  // curl and sha256sum as /usr/bin/time reports them); the hub runs in its own process.
  const systems = ['hasten', 'hasten, node:http body', 'curl -L', 'curl -L + sha256sum'] as const;
  const rate: Record<string, number[]> = Object.fromEntries(systems.map((k) => [k, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(systems.map((k) => [k, []]));
  const timed = async (cmd: string, args: string[]) => {
    const { stderr } = await promisify(execFile)('/usr/bin/time', ['-f', '%U %S', cmd, ...args]);
    const [u, s] = stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
    return u! + s!;
  };
  const run = async (system: (typeof systems)[number], r: number) => {
    const t = performance.now();
    if (system.startsWith('hasten')) {
      const cacheDir = path.join(tmp, `c${r}`);
      const c0 = process.cpuUsage();
      await downloadFile(file, { repo, endpoint: hub.url, cacheDir, offline: false, ...(system === 'hasten' ? {} : { bodyReader: 'node-http' as const }) });
      const c = process.cpuUsage(c0);
      cpu[system]!.push((c.user + c.system) / 1e6);
      rate[system]!.push(size / 1e6 / ((performance.now() - t) / 1000));
      fs.rmSync(cacheDir, { recursive: true, force: true });
      return;
    }
    const out = path.join(tmp, 'curl.bin');
    let sec = await timed('curl', ['-sSfL', '-o', out, url]);
    if (system === 'curl -L + sha256sum') sec += await timed('sha256sum', [out]);
    rate[system]!.push(size / 1e6 / ((performance.now() - t) / 1000));
    cpu[system]!.push(sec);
    fs.rmSync(out);
  };
  try {
    for (let r = 0; r < runs; r++) for (const system of r % 2 ? [...systems].reverse() : systems) await run(system, r);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`file ${mb} MiB, ${runs} runs interleaved (order reversed on odd runs), median MB/s and client CPU seconds; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`);
    for (const k of systems) console.log(`${k.padEnd(26)} ${median(rate[k]!).toFixed(0).padStart(5)} MB/s  [${rate[k]!.map((x) => x.toFixed(0)).join(', ')}]  CPU ${median(cpu[k]!).toFixed(2)} s`);
    const ratio = (a: string, b: string) => (median(rate[a]!) / median(rate[b]!)).toFixed(2);
    console.log(`ratio hasten / curl: ${ratio('hasten', 'curl -L')}x; hasten / curl + sha256sum: ${ratio('hasten', 'curl -L + sha256sum')}x; node:http body / curl: ${ratio('hasten, node:http body', 'curl -L')}x`);

    const cacheDir = path.join(tmp, 'resume');
    hub.fault(repo, file, { dropAt: Math.floor(size / 2) });
    await downloadFile(file, { repo, endpoint: hub.url, cacheDir, offline: false, retries: 0 }).catch(() => undefined);
    const partial = fs.readdirSync(path.join(cacheDir, 'models--bench--big', 'blobs')).find((f) => f.endsWith('.incomplete'))!;
    const kept = fs.statSync(path.join(cacheDir, 'models--bench--big', 'blobs', partial)).size;
    const got = await downloadFile(file, { repo, endpoint: hub.url, cacheDir, offline: false });
    const last = (await hub.requests()).filter((q) => q.server === 'cdn' && q.method === 'GET').at(-1)!;
    console.log(`resume: dropped at ${Math.floor(size / 2)}, partial kept ${kept} bytes; resumed with ${last.range}, that response carried ${last.bytes} bytes = size - partial: ${last.bytes === size - kept}; received ${got.received}`);
  } finally {
    await hub.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') void serve(Number(process.argv[3]));
else void main();

// npm run demo: packages Hasten, starts VS Code (code-server) on 127.0.0.1 with it installed and a copy of
// the sample workspace open, and prints the URL. Port: $HASTEN_PORT or 8080 (a free one if that is taken).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureCodeServer, freePort, startCodeServer } from './code-server';
import { bundledParams, demoGuide } from './demoGuide';
import { packageVsix } from './package';

const ROOT = resolve(__dirname, '..');

function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

async function main(): Promise<void> {
  const { path: vsix } = await packageVsix();
  await ensureCodeServer();
  const wanted = Number(process.env.HASTEN_PORT ?? 8080);
  const port = (await portIsFree(wanted)) ? wanted : await freePort();
  const tmp = mkdtempSync(join(tmpdir(), 'hasten-demo-'));
  const workspace = join(tmp, 'workspace');
  cpSync(join(ROOT, 'test', 'fixtures', 'workspace'), workspace, { recursive: true });

  const server = await startCodeServer({ workspace, extensions: [vsix], port });
  const stop = async () => {
    await server.stop();
    rmSync(tmp, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  console.log(demoGuide({ url: server.url, port, workspace, params: bundledParams(join(ROOT, 'models')) }).join('\n'));
}

main().catch((err: unknown) => {
  console.error(`[demo] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

// Child process of test/unit/webgpu.test.ts: loads the bundled target on webgpu (the parent sets an
// environment in which no adapter can be found), completes one prompt and prints what happened as JSON.
import path from 'node:path';
import { Engine } from '../../../src/engine';

async function main(): Promise<void> {
  const [prefix, suffix] = JSON.parse(process.argv[2]!) as [string, string];
  const warnings: string[] = [];
  const engine = await Engine.load({
    modelDir: path.resolve(__dirname, '..', '..', '..', 'models', 'hasten-target'), draftDir: null,
    runtime: { provider: 'webgpu', threads: 1 }, log: (level, m) => { if (level === 'warn') warnings.push(m); },
  });
  let output: unknown;
  for await (const u of engine.complete({ prefix, suffix, strategy: 'autoregressive', maxNewTokens: 8 })) if (u.done) output = u.trace.output;
  console.log(JSON.stringify({ provider: engine.target.provider, warnings, output }));
  await engine.dispose();
}

void main();

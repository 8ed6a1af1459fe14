// The end-to-end harness's own failure modes: each must say what to install, fast, without hanging.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureCodeServer, freePort, missingPrerequisites, prerequisiteMessage } from '../../scripts/code-server';
import { chromiumPath } from '../e2e/harness';

/** Runs `body` with some environment variables replaced, then restores them. */
async function withEnv<T>(vars: Record<string, string>, body: () => Promise<T> | T): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('a missing chromium names the apt package', async () => {
  await withEnv({ HASTEN_CHROMIUM: '/nonexistent/chromium' }, () => {
    assert.throws(() => chromiumPath(), /Chromium not found at \/nonexistent\/chromium\. Install it with: apt-get install -y chromium/);
  });
});

test('missing build prerequisites for code-server name their apt packages', () => {
  const missing = missingPrerequisites(() => false, () => false);
  assert.match(prerequisiteMessage(missing), /apt-get install -y ripgrep libkrb5-dev build-essential python3 nodejs$/);
  assert.deepEqual(missingPrerequisites(() => true, () => true), []);
});

test('a failed code-server install fails fast and says what it needs', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'hasten-cache-test-'));
  try {
    // A closed port as the registry makes npm fail at once, the way a broken network would.
    const env = { HASTEN_E2E_CACHE: cache, npm_config_registry: `http://127.0.0.1:${await freePort()}/`, npm_config_fetch_retries: '0' };
    await withEnv(env, () =>
      assert.rejects(ensureCodeServer(() => {}), (err: Error) => {
        assert.match(err.message, /installing code-server 4\.100\.3 failed \(full log: .*install\.log\)/);
        assert.match(err.message, /apt packages libkrb5-dev ripgrep build-essential python3/);
        return true;
      }),
    );
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

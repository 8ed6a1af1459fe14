// The README's test command and CI agree: .ci/run runs exactly the command the README gives, and
// the set-up it runs installs everything the tests require under CI (the llama.cpp peer, code-server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

/** Shell lines that do something: no comments, blanks, or the shell options every script starts with. */
function commands(script: string): string[] {
  return script
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !/^(set -euo pipefail|cd "\$\(dirname "\$0"\)\/\.\.")$/.test(l));
}

test("README's test command is the one .ci/run runs, after nothing else", () => {
  const line = read('README.md').split('\n').find((l) => /^bash scripts\/setup\.sh && npm test\b/.test(l));
  assert.ok(line, 'README.md gives `bash scripts/setup.sh && npm test`');
  const readmeCommand = line.split('#')[0]!.trim();
  assert.deepEqual(commands(read('.ci/run')), ['export CI="${CI:-true}"', readmeCommand]);
});

test('scripts/setup.sh installs the llama.cpp peer and code-server, which the tests need under CI', () => {
  const setup = commands(read('scripts/setup.sh')).join('\n');
  assert.match(setup, /bash bench\/peers\/install\.sh/);
  assert.match(setup, /npx tsx scripts\/code-server\.ts install/);
  // Idempotent: the peer installer leaves a matching install alone instead of re-running npm ci.
  assert.match(read('bench/peers/install.sh'), /already installed"\n\s*exit 0/);
});

test('scripts/setup.sh installs the Vulkan loader and bookworm-backports\' lavapipe, which the WebGPU tests need under CI; a second run is a no-op', () => {
  assert.match(commands(read('scripts/setup.sh')).join('\n'), /^bash scripts\/setup-vulkan\.sh$/m);
  const vulkan = read('scripts/setup-vulkan.sh');
  // A deb822 source beside the system's bookworm entry, added once; the loader, then backports' Mesa.
  assert.match(vulkan, /Types: deb\nURIs: http:\/\/deb\.debian\.org\/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: \/usr\/share\/keyrings\/debian-archive-keyring\.gpg/);
  assert.match(vulkan, /if ! grep -rqs 'bookworm-backports' \/etc\/apt\/sources\.list \/etc\/apt\/sources\.list\.d\/; then/);
  assert.match(vulkan, /apt-get install -y -qq --no-install-recommends libvulkan1\n.*apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers/);
  const installed = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'mesa-vulkan-drivers'], { encoding: 'utf8' });
  if (installed.status === 0 && installed.stdout.includes('bpo12')) {
    const again = spawnSync('bash', [path.join(ROOT, 'scripts/setup-vulkan.sh')], { encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout + again.stderr, '', 'nothing to do once installed');
  }
});

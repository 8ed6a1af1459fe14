// What `npm run demo` prints: the URL, how to get and accept ghost text, where the visualiser and the
// strategy picker are, that the bundled model is a small demo model, and that the workspace is temporary.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { bundledParams, demoGuide } from '../../scripts/demoGuide';

const ROOT = path.resolve(__dirname, '..', '..');

test('the demo guide says how to use Hasten and what the demo is not', () => {
  const params = bundledParams(path.join(ROOT, 'models'));
  assert.ok(params > 1e6 && params < 1e8, String(params));
  const text = demoGuide({ url: 'http://127.0.0.1:8080/?folder=/tmp/hasten-demo-x/workspace', port: 8080, workspace: '/tmp/hasten-demo-x/workspace', params }).join('\n');
  assert.match(text, /http:\/\/127\.0\.0\.1:8080\/\?folder=/);
  assert.match(text, /ghost text/);
  assert.match(text, /Tab accepts/);
  assert.match(text, /Alt\+\\ asks for a suggestion/);
  assert.match(text, /Open Visualiser/);
  assert.match(text, /Select Decoding Strategy/);
  assert.match(text, new RegExp(`small demo model \\(${(params / 1e6).toFixed(1)}M parameters`));
  assert.match(text, /run "Hasten: Download\n +Model…"/);
  assert.match(text, /temporary copy, deleted .* Ctrl\+C here:\n {4}\/tmp\/hasten-demo-x\/workspace\n/);
  assert.match(text, /ssh -L 8080:127\.0\.0\.1:8080/);
  assert.ok(text.split('\n').every((l) => l.length <= 120), 'fits a terminal');
});

test('the commands the guide names exist in package.json', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { contributes: { commands: { title: string }[] } };
  for (const title of ['Open Visualiser', 'Select Decoding Strategy', 'Select Model', 'Show Log', 'Download Model…']) {
    assert.ok(pkg.contributes.commands.some((c) => c.title === title), title);
  }
});

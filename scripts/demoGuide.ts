// What `npm run demo` prints once VS Code is up: where it is, how to use Hasten there, and what the
// demo is not (a tiny bundled model, a throw-away workspace).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DemoInfo {
  url: string;
  port: number;
  /** The temporary copy of the sample workspace. */
  workspace: string;
  /** Parameters of the bundled default model, from models/manifest.json. */
  params: number;
}

/** The bundled default target's parameter count, from the manifest in `modelsDir`. */
export function bundledParams(modelsDir: string): number {
  const m = JSON.parse(readFileSync(join(modelsDir, 'manifest.json'), 'utf8')) as { defaults: { target: string }; models: Record<string, { params?: number }> };
  return m.models[m.defaults.target]?.params ?? 0;
}

/** The guide, as lines. */
export function demoGuide(d: DemoInfo): string[] {
  const millions = (d.params / 1e6).toFixed(1);
  return [
    '',
    'VS Code with Hasten is running at:',
    '',
    `  ${d.url}`,
    '',
    'Try it:',
    '  - Open src/fibonacci.ts or src/stats.py (Ctrl+P), then type at the end of a line or on a new line:',
    '    grey ghost text appears after a moment ("Hasten" in the status bar turns from loading to ready first).',
    '    Alt+\\ asks for a suggestion at once.',
    '  - Tab accepts the whole suggestion, Ctrl+Right one word of it, Escape dismisses it.',
    '  - Click "Hasten" in the status bar (bottom right) for the menu, or press F1 and type "Hasten":',
    '      Open Visualiser            why each completion was fast: the draft-verify-accept steps and exit layers',
    '      Select Decoding Strategy   auto, prompt lookup, draft model, token tree, early exit, lookahead, ...',
    '      Select Model / Show Log    which model runs; every completion with its speed',
    '',
    'Good to know:',
    `  - The bundled model is a small demo model (${millions}M parameters, trained here: models/README.md). It is fast`,
    '    and shows how the decoding works, but its code is weak. For useful suggestions run "Hasten: Download',
    '    Model…" (Qwen2.5-Coder 0.5B-7B, DeepSeek-Coder 1.3B, ...; needs the internet or hasten.hub.endpoint),',
    '    or point "Hasten: Select Model" at a folder you have (a Hugging Face checkpoint or an ONNX export).',
    `  - The workspace is a temporary copy, deleted with every file you create in it when you press Ctrl+C here:`,
    `    ${d.workspace}`,
    `  - From another machine, forward the port first: ssh -L ${d.port}:127.0.0.1:${d.port} <this host>`,
    '',
    'Press Ctrl+C to stop.',
  ];
}

// "Hasten: Run Benchmark on Current File": a progress notification, then a summary.
import * as vscode from 'vscode';
import path from 'node:path';
import { decodeSettings } from '../config';
import type { Ctx } from '../ctx';
import { GREEDY } from '../engine';
import { benchmarkPoints, runBenchmark, summariseBenchmark } from '../completion/benchmark';

const POINTS = 4;
/** The benchmark stops starting new points after this long. */
const TIME_LIMIT_MS = 60_000;

export async function benchmarkCurrentFile(ctx: Ctx): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const engine = ctx.host.engine;
  if (!editor) return void vscode.window.showWarningMessage('Hasten: open a file to benchmark first.');
  if (!engine) return void vscode.window.showWarningMessage('Hasten: the model is not loaded yet; try again when the status bar shows it ready.');
  const text = editor.document.getText();
  const points = benchmarkPoints(text, POINTS);
  if (points.length === 0) return void vscode.window.showWarningMessage('Hasten: this file has too few lines to benchmark; open a longer one.');
  const d = ctx.config().decode;
  const name = path.basename(editor.document.fileName);
  const resume = ctx.service.suspend();
  try {
    await ctx.service.idle();
    const results = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Hasten: benchmarking ${d.strategy} vs autoregressive on ${name}`, cancellable: true },
      async (progress, token) => {
        const ctrl = new AbortController();
        token.onCancellationRequested(() => ctrl.abort());
        const timer = setTimeout(() => ctrl.abort(), TIME_LIMIT_MS);
        try {
          return await runBenchmark(engine, text, points, d.strategy, {
            maxNewTokens: d.maxTokens, sampling: GREEDY, signal: ctrl.signal,
            settings: decodeSettings(d),
          }, (n) => progress.report({ increment: 100 / points.length, message: `${n}/${points.length} positions` }));
        } finally {
          clearTimeout(timer);
        }
      },
    );
    const s = summariseBenchmark(results);
    for (const r of results) {
      ctx.log.info(`benchmark ${name}:${r.line + 1} autoregressive ${r.baseline.tokens} tokens ${r.baseline.ms.toFixed(0)} ms; ${r.candidate.strategy} ${r.candidate.tokens} tokens ${r.candidate.ms.toFixed(0)} ms; ${r.baseline.text === r.candidate.text ? 'identical' : 'different'} output`);
    }
    const summary = `Hasten benchmark on ${name} (${s.points} positions, ${d.maxTokens} tokens): ${s.strategies.join(', ')} ${s.candidateTps.toFixed(0)} tok/s vs autoregressive ${s.baselineTps.toFixed(0)} tok/s, ${s.speedup.toFixed(2)}× speed-up; identical output at ${s.identical}/${s.points} positions.`;
    ctx.log.info(summary);
    void vscode.window.showInformationMessage(summary, 'Show Log').then((b) => b && ctx.log.show(true));
  } catch (err) {
    const message = `Hasten: the benchmark failed: ${err instanceof Error ? err.message : String(err)}`;
    ctx.log.error(message);
    void vscode.window.showErrorMessage(message);
  } finally {
    resume();
  }
}

import * as vscode from 'vscode';
import path from 'node:path';
import { CONFIG_SECTION, CONTEXT_KEYS, ENGINE_KEYS, readConfig, type HastenConfig } from './config';
import type { Ctx } from './ctx';
import { reportEventLoop } from './eventLoop';
import { EngineHost, type HostState } from './completion/engineHost';
import { WorkspaceFeed } from './completion/feed';
import { TraceHistory } from './completion/history';
import { HastenInlineProvider, retriggerOnExtend } from './completion/provider';
import { ContextRing, DEFAULT_RING } from './completion/ring';
import { CompletionService } from './completion/service';
import { ProcessEngine } from './completion/processEngine';
import { commandTable } from './ui/commands';
import { disposeHashWorker } from './engine/hub';
import { StatusBar } from './ui/statusBar';
import { registerVisualiserSerializer } from './ui/visualiser/panel';
import type { Health } from './ui/status';

/** Documents Hasten completes in. */
const SELECTOR: vscode.DocumentSelector = [{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: 'vscode-remote' }];

/** Builds the context, registers commands, the provider and the UI; nothing else. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Hasten', { log: true });
  // Each unusable setting is logged once (settings are read again at every completion).
  const told = new Set<string>();
  const tell = (problem: string) => {
    if (told.has(problem)) return;
    told.add(problem);
    log.warn(`Setting ${problem}`);
  };
  const read = (scope?: vscode.ConfigurationScope) => readConfig(vscode.workspace.getConfiguration(CONFIG_SECTION, scope), tell);
  let config: HastenConfig = read();
  const history = new TraceHistory();
  const entry = path.join(context.extensionPath, 'dist', 'engineProcess.js');
  const host = new EngineHost(path.join(context.extensionPath, 'models'), log, (o) => ProcessEngine.load(o, entry));
  const ring = new ContextRing({ ...DEFAULT_RING, capacity: config.context.ringChunks, chunkLines: config.context.chunkLines });
  const service = new CompletionService({ engine: () => host.engine, whenEngine: (signal, not) => host.whenReady(signal, not), decode: () => config.decode, completion: () => config.completion, log, history });
  const ctx: Ctx = { log, extensionUri: context.extensionUri, secrets: context.secrets, storageDir: context.globalStorageUri.fsPath, host, service, history, config: () => config, baseDir: () => vscode.workspace.workspaceFolders?.[0]?.uri.fsPath };
  const health = (): Health => (config.enable ? hostHealth(host.status) : { kind: 'disabled' });
  const statusBar = new StatusBar(health());
  const feed = new WorkspaceFeed(ring, () => host.engine?.retrieval, () => config.context, log);
  const provider = new HastenInlineProvider({ service, ring, config: (doc) => read(doc).completion, extraChars: () => config.context.extraChars });

  // The status bar describes the completion the visualiser follows: the newest the user asked for or saw.
  let figuresAfter = 0;
  const showFigures = () => {
    const r = history.current(figuresAfter);
    statusBar.completed(r && { id: r.trace.id, strategy: r.trace.strategy, tokens: r.trace.tokens, tokensPerSecond: r.summary.tokensPerSecond, acceptance: r.summary.drafted > 0 ? r.summary.acceptanceRate : null });
  };

  const load = () => vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Hasten: loading model' }, () => host.load(config.engine, ctx.baseDir()));
  context.subscriptions.push(
    log,
    statusBar,
    feed,
    { dispose: () => service.dispose() },
    { dispose: () => history.dispose() },
    { dispose: () => void host.dispose() },
    ...Object.entries(commandTable).map(([id, factory]) => vscode.commands.registerCommand(id, factory(ctx))),
    vscode.languages.registerInlineCompletionItemProvider(SELECTOR, provider),
    retriggerOnExtend(service),
    registerVisualiserSerializer({ extensionUri: context.extensionUri, feed: history, log }),
    host.onDidChangeState((s) => {
      // A model being loaded (a switch) starts with no figures: older completions are another model's.
      if (s.kind === 'loading') {
        figuresAfter = history.lastId;
        showFigures();
      }
      statusBar.update(health());
      announce(s, ctx);
      if (s.kind === 'ready') {
        service.resetCache();
        feed.reindexAll();
      }
    }),
    history.onDidRecordTrace(showFigures),
    history.onDidServe(showFigures),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(CONFIG_SECTION)) return;
      const before = config;
      config = read();
      // Only what a setting touches is redone: the engine for model and runtime settings, the ring
      // for chunk sizes, the cache for the prefix window; strategy and drafting need nothing.
      if (ENGINE_KEYS.some((k) => e.affectsConfiguration(`${CONFIG_SECTION}.${k}`))) {
        log.info('Model or runtime settings changed: reloading the engine.');
        void service.idle().then(load);
      }
      if (CONTEXT_KEYS.some((k) => e.affectsConfiguration(`${CONFIG_SECTION}.${k}`))) ring.resize({ capacity: config.context.ringChunks, chunkLines: config.context.chunkLines });
      if (before.completion.prefixChars !== config.completion.prefixChars) service.resetCache();
      if (before.decode.strategy !== config.decode.strategy) {
        // Decodes already running keep the old strategy; stop them so the next completion uses the new one.
        void service.idle();
        log.info(`Strategy: ${config.decode.strategy} (no reload needed).`);
      }
      if (before.enable !== config.enable && config.enable && host.status.kind === 'idle') void load();
      statusBar.update(health());
    }),
  );
  const loopEvery = Number(process.env.HASTEN_EVENT_LOOP_REPORT_MS);
  if (loopEvery > 0) context.subscriptions.push({ dispose: reportEventLoop(loopEvery, (line) => log.info(line)) });
  const version = (context.extension.packageJSON as { version?: string }).version ?? '?';
  log.info(`Hasten ${version} activated (VS Code ${vscode.version}, ${process.platform}-${process.arch}, Node ${process.versions.node})`);
  if (config.enable) void load();
}

function hostHealth(s: HostState): Health {
  switch (s.kind) {
    case 'idle':
      return { kind: 'loading', model: 'model' };
    case 'restarting':
      return { kind: 'loading', model: `${s.model} (restarting: ${s.reason})` };
    case 'loading':
    case 'ready':
    case 'error':
      return s;
  }
}

/** Tells the user what they must know: a model that failed, a fallback, an unavailable provider. */
function announce(s: HostState, ctx: Ctx): void {
  if (s.kind === 'error') {
    void vscode.window.showErrorMessage(`Hasten: ${s.message}`, 'Select Model', 'Show Log').then((b) => {
      if (b === 'Select Model') void vscode.commands.executeCommand('hasten.selectModel');
      if (b === 'Show Log') ctx.log.show(true);
    });
  }
  if (s.kind === 'ready') {
    for (const w of s.warnings) void vscode.window.showWarningMessage(`Hasten: ${w}`);
  }
}

export function deactivate(): void {
  // The downloader's hashing worker, kept across downloads (it never holds the process open by itself).
  disposeHashWorker();
}

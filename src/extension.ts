import * as vscode from 'vscode';
import { CONFIG_SECTION, readConfig } from './config';
import type { Ctx } from './ctx';
import { commandTable } from './ui/commands';
import { StatusBar } from './ui/statusBar';

/** Builds the context, registers commands and UI; nothing else. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Hasten', { log: true });
  const ctx: Ctx = { log };
  const health = () => (readConfig(vscode.workspace.getConfiguration(CONFIG_SECTION)).enable ? { kind: 'enabled' as const } : { kind: 'disabled' as const });
  const statusBar = new StatusBar(health());

  context.subscriptions.push(
    log,
    statusBar,
    ...Object.entries(commandTable).map(([id, factory]) => vscode.commands.registerCommand(id, factory(ctx))),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(CONFIG_SECTION)) statusBar.update(health());
    }),
  );
  const version = (context.extension.packageJSON as { version?: string }).version ?? '?';
  log.info(`Hasten ${version} activated (VS Code ${vscode.version}, ${process.platform}-${process.arch}, Node ${process.versions.node})`);
}

export function deactivate(): void {}

import * as vscode from 'vscode';
import { CONFIG_SECTION } from '../config';
import type { Ctx } from '../ctx';
import { benchmarkCurrentFile } from './benchmark';
import { downloadModel, setHubToken } from './download';
import type { CommandId } from './commandIds';
import { selectModel, selectProvider, selectStrategy, showMenu, tune } from './pickers';
import { VisualiserPanel } from './visualiser/panel';

/** A command is a factory: it gets the context once and returns the handler VS Code calls. */
export type CommandFactory = (ctx: Ctx) => (...args: unknown[]) => unknown;

async function toggle(ctx: Ctx): Promise<void> {
  const enable = !ctx.config().enable;
  await vscode.workspace.getConfiguration(CONFIG_SECTION).update('enable', enable, vscode.ConfigurationTarget.Global);
  ctx.log.info(`Completions ${enable ? 'on' : 'off'}.`);
}

/** A handler factory for every id in COMMAND_IDS (registered from this one table). */
export const commandTable: Readonly<Record<CommandId, CommandFactory>> = {
  'hasten.toggle': (ctx) => () => toggle(ctx),
  'hasten.selectStrategy': (ctx) => () => selectStrategy(ctx),
  'hasten.selectModel': (ctx) => (folder?: unknown) => selectModel(ctx, folder),
  'hasten.selectProvider': (ctx) => () => selectProvider(ctx),
  'hasten.tune': (ctx) => () => tune(ctx),
  'hasten.benchmark': (ctx) => () => benchmarkCurrentFile(ctx),
  'hasten.showLog': (ctx) => () => ctx.log.show(true),
  'hasten.openVisualiser': (ctx) => () => void VisualiserPanel.createOrShow({ extensionUri: ctx.extensionUri, feed: ctx.history, log: ctx.log }),
  'hasten.showMenu': () => () => showMenu(),
  'hasten.downloadModel': (ctx) => () => downloadModel(ctx),
  'hasten.setHubToken': (ctx) => () => setHubToken(ctx),
};

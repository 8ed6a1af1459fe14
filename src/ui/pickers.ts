// The quick picks and inputs behind the commands: strategy, model, execution provider, tuning, menu.
import * as vscode from 'vscode';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_SECTION } from '../config';
import type { Ctx } from '../ctx';
import type { BundledModel } from '../completion/engineHost';
import { availableProviders, draftsFor, PROVIDER_SETTINGS, resolveProvider, STRATEGIES } from '../engine';
import { KNOBS, validateKnob } from './knobs';
import { modelRows } from './modelItems';

const settings = () => vscode.workspace.getConfiguration(CONFIG_SECTION);
const GLOBAL = vscode.ConfigurationTarget.Global;

/** Quick pick of every strategy the engine offers, with its one-line description. */
export async function selectStrategy(ctx: Ctx): Promise<void> {
  const current = ctx.config().decode.strategy;
  const available = ctx.host.engine?.available();
  const items = STRATEGIES.map((s) => ({
    label: `${s.id === current ? '$(check) ' : ''}${s.label}`,
    description: available && !available.includes(s.id) ? `${s.description} (needs a draft model: hasten.draftModel)` : s.description,
    detail: s.lossless ? undefined : 'Lossy: may differ from what the model alone would write.',
    id: s.id,
  }));
  const pick = await vscode.window.showQuickPick(items, { title: 'Hasten: decoding strategy', placeHolder: `Current: ${current}`, matchOnDescription: true });
  if (!pick) return;
  await settings().update('strategy', pick.id, GLOBAL);
  ctx.log.info(`Strategy set to ${pick.id}.`);
}

interface ModelItem extends vscode.QuickPickItem {
  setting?: 'model' | 'draftModel';
  value?: string;
  browse?: boolean;
}

/** Quick pick of the bundled models, or a folder on disk (validated before it is used). */
export async function selectModel(ctx: Ctx, folder?: unknown): Promise<void> {
  if (typeof folder === 'string') return useFolder(ctx, folder);
  const { model: current, draftModel } = ctx.config().engine;
  const defaultTarget = path.basename(ctx.host.bundledDefault());
  const defaultDraft = ctx.host.engine?.draft?.folder.name ?? '';
  const bundled = ctx.host.bundledModels();
  const rows = modelRows(bundled, { model: current, draftModel, defaultTarget, defaultDraft, pairs: pairsWith(ctx, current, bundled) });
  const items: ModelItem[] = [
    ...rows.map((r): ModelItem => (r.kind === 'separator'
      ? { label: r.label, kind: vscode.QuickPickItemKind.Separator }
      : { label: `${r.current ? '$(check) ' : ''}${r.label}`, description: r.description, ...(r.detail ? { detail: r.detail } : {}), setting: r.setting, value: r.value })),
    { label: 'Other', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(folder-opened) Folder on disk…', description: 'A Hugging Face-layout folder: config.json, tokenizer.json, onnx/model.onnx', browse: true },
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'Hasten: model', placeHolder: `Current: ${current || 'bundled default'}${draftModel ? `, draft ${draftModel}` : ''}` });
  if (!pick) return;
  if (!pick.browse) {
    await settings().update(pick.setting ?? 'model', pick.value ?? '', GLOBAL);
    ctx.log.info(`${pick.setting === 'draftModel' ? 'Draft model' : 'Model'} set to ${pick.value || 'the bundled default'}.`);
    return;
  }
  const uris = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, title: 'Hasten: model folder', openLabel: 'Use this model' });
  if (uris?.[0]) await useFolder(ctx, uris[0].fsPath);
}

/** Which bundled drafts share the target's vocabulary (a draft's ids must mean the same text as the target's). */
function pairsWith(ctx: Ctx, model: string, bundled: readonly BundledModel[]): (draftName: string) => boolean {
  try {
    const ok = new Set(draftsFor(ctx.host.resolveModel(model, ctx.baseDir()), bundled.map((m) => ctx.host.resolveModel(m.name)).filter((d) => fs.existsSync(d))).map((d) => path.basename(d)));
    return (name) => ok.has(name);
  } catch {
    // An unreadable target offers no draft: loading it will say what is wrong.
    return () => false;
  }
}

async function useFolder(ctx: Ctx, dir: string): Promise<void> {
  const abs = ctx.host.resolveModel(dir, ctx.baseDir());
  const err = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Hasten: checking ${path.basename(abs)}…` }, () => ctx.host.validate(abs));
  if (err) {
    const using = ctx.host.engine?.target.folder.name ?? path.basename(ctx.host.bundledDefault());
    const message = `Hasten: ${abs} is not a usable model. ${err.message} Completions keep using ${using}.`;
    ctx.log.error(message);
    void vscode.window.showErrorMessage(message);
    return;
  }
  await settings().update('model', abs, GLOBAL);
  ctx.log.info(`Model set to ${abs}.`);
}

/** Quick pick of execution providers; an unavailable one falls back to cpu with a warning. */
export async function selectProvider(ctx: Ctx): Promise<void> {
  const current = ctx.config().engine.executionProvider;
  const available = availableProviders();
  const items = PROVIDER_SETTINGS.map((p) => ({
    label: `${p === current ? '$(check) ' : ''}${p}`,
    description: p === 'auto' ? `here: ${resolveProvider('auto').provider} (${resolveProvider('auto').reason})` : available.includes(p) ? 'available' : `not in this onnxruntime-node build on ${process.platform}-${process.arch}: falls back to cpu`,
    id: p,
  }));
  const pick = await vscode.window.showQuickPick(items, { title: 'Hasten: execution provider', placeHolder: `Current: ${current}` });
  if (!pick) return;
  if (pick.id !== 'auto' && !available.includes(pick.id)) {
    void vscode.window.showWarningMessage(`Hasten: the ${pick.id} execution provider is not available here (available: ${available.join(', ')}); the model runs on cpu.`);
  }
  await settings().update('executionProvider', pick.id, GLOBAL);
}

export async function tune(ctx: Ctx): Promise<void> {
  const s = settings();
  const pick = await vscode.window.showQuickPick(
    KNOBS.map((k) => ({ label: k.label, description: String(s.get<number>(k.key)), detail: k.what, knob: k })),
    { title: 'Hasten: tune decoding', placeHolder: 'Pick a setting to change' },
  );
  if (!pick) return;
  const k = pick.knob;
  const value = await vscode.window.showInputBox({
    title: `Hasten: ${k.label}`,
    prompt: `${k.label}: ${k.what} (${k.min}–${k.max})`,
    value: String(s.get<number>(k.key)),
    validateInput: (v) => validateKnob(k, v),
  });
  if (value === undefined) return;
  await s.update(k.key, Number(value.trim()), GLOBAL);
  ctx.log.info(`${k.label} set to ${value.trim()}.`);
}

/** The status bar's menu: the main commands. */
export async function showMenu(): Promise<void> {
  const items: (vscode.QuickPickItem & { command: string })[] = [
    { label: '$(circle-slash) Toggle Completions', command: 'hasten.toggle' },
    { label: '$(rocket) Select Decoding Strategy', command: 'hasten.selectStrategy' },
    { label: '$(file-binary) Select Model', command: 'hasten.selectModel' },
    { label: '$(cloud-download) Download Model…', command: 'hasten.downloadModel' },
    { label: '$(chip) Select Execution Provider', command: 'hasten.selectProvider' },
    { label: '$(settings) Tune Decoding', command: 'hasten.tune' },
    { label: '$(dashboard) Run Benchmark on Current File', command: 'hasten.benchmark' },
    { label: '$(type-hierarchy) Open Visualiser', command: 'hasten.openVisualiser' },
    { label: '$(output) Show Log', command: 'hasten.showLog' },
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'Hasten' });
  if (pick) await vscode.commands.executeCommand(pick.command);
}

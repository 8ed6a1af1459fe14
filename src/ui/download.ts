// "Hasten: Download Model…" and "Hasten: Set Hugging Face Token": the quick picks, the progress
// notifications and the messages. The work is src/engine/hub's; this file only drives it.
import * as vscode from 'vscode';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_SECTION } from '../config';
import type { Ctx } from '../ctx';
import { isAbortError, resolveProvider } from '../engine';
import {
  classifyFolder, defaultToken, describeNeeds, downloadCheckpoint, dtypeFor, forkBuild, GatedRepoError, HubError, localSnapshot, prepareModel, PRESETS, ProgressMeter,
  resolveEndpoint, Snapshot, memoryWarning,
} from '../engine/hub';
import type { Device, Preset } from '../engine/hub';

/** SecretStorage key of the hub token (never in settings or logs). */
export const TOKEN_KEY = 'hasten.hub.token';
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
const SET_TOKEN = 'Set Token';

type Source = { repo: string; label: string; preset?: Preset } | { folder: string };

interface SourceItem extends vscode.QuickPickItem {
  pick: () => Promise<Source | undefined>;
}

/** Quick pick of presets, a repo id or a local folder; downloads, builds and selects the model. */
export async function downloadModel(ctx: Ctx): Promise<void> {
  const items: (SourceItem | vscode.QuickPickItem)[] = [
    { label: 'Presets', kind: vscode.QuickPickItemKind.Separator },
    ...PRESETS.map((p): SourceItem => ({
      label: p.label,
      description: describeNeeds(p),
      detail: [p.repo, p.draft ? 'Qwen2.5-Coder 0.5B can draft for it' : undefined, p.note].filter(Boolean).join(' · '),
      pick: async () => ({ repo: p.repo, label: p.label, preset: p }),
    })),
    { label: 'Other', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(cloud-download) Hugging Face repo id…', description: 'a safetensors checkpoint, e.g. Qwen/Qwen2.5-Coder-1.5B', pick: askRepo },
    { label: '$(package) Bundled demo models…', description: 'the small models Hasten ships (offline, weak)', pick: async () => void (await vscode.commands.executeCommand('hasten.selectModel')) },
    { label: '$(folder-opened) Local folder…', description: 'a safetensors checkpoint (built here) or a folder with onnx/*.onnx (used as it is)', pick: askFolder },
  ];
  const chosen = await vscode.window.showQuickPick(items, { title: 'Hasten: download model', placeHolder: 'Pick a model (sizes are estimates)' });
  const source = chosen && 'pick' in chosen ? await (chosen as SourceItem).pick() : undefined;
  if (!source) return;
  try {
    if ('folder' in source) return await useLocal(ctx, source.folder);
    if (source.preset && !(await fitsOrConfirmed(ctx, source.preset))) return;
    const snapshot = await download(ctx, source.repo, source.preset);
    await buildAndSelect(ctx, source.repo, snapshot);
  } catch (err) {
    await report(ctx, err);
  }
}

async function askRepo(): Promise<Source | undefined> {
  const repo = await vscode.window.showInputBox({
    title: 'Hasten: Hugging Face repo id', prompt: 'owner/name of a safetensors checkpoint (llama or qwen2 architecture)', placeHolder: 'Qwen/Qwen2.5-Coder-1.5B',
    validateInput: (v) => (REPO_ID.test(v.trim()) ? undefined : 'Use owner/name, e.g. Qwen/Qwen2.5-Coder-1.5B'),
  });
  return repo ? { repo: repo.trim(), label: repo.trim() } : undefined;
}

async function askFolder(): Promise<Source | undefined> {
  const uris = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, title: 'Hasten: model or checkpoint folder', openLabel: 'Use this folder' });
  return uris?.[0] ? { folder: uris[0].fsPath } : undefined;
}

async function useLocal(ctx: Ctx, folder: string): Promise<void> {
  const kind = classifyFolder(folder);
  if (kind.kind === 'onnx') return void (await vscode.commands.executeCommand('hasten.selectModel', folder));
  if (kind.kind === 'unknown') throw new HubError('file-not-found', kind.why, 'Pick a checkpoint folder (config.json, tokenizer.json, safetensors) or a model folder with onnx/*.onnx.');
  await buildAndSelect(ctx, `local/${path.basename(folder)}`, localSnapshot(folder, kind.weights));
}

const device = (ctx: Ctx): Device => (resolveProvider(ctx.config().engine.executionProvider).provider === 'cpu' ? 'cpu' : 'gpu');

/** Warns (modal) when a preset will not fit this machine's memory; true to go on. */
async function fitsOrConfirmed(ctx: Ctx, p: Preset): Promise<boolean> {
  const warning = memoryWarning(p, device(ctx), os.totalmem());
  if (!warning) return true;
  const go = 'Download anyway';
  return (await vscode.window.showWarningMessage(`Hasten: ${warning} It may not load, or may swap.`, { modal: true }, go)) === go;
}

async function download(ctx: Ctx, repo: string, preset?: Preset): Promise<Snapshot> {
  const endpoint = resolveEndpoint(ctx.config().hub.endpoint);
  const stored = (await ctx.secrets.get(TOKEN_KEY)) || undefined;
  const token = stored ?? defaultToken();
  ctx.log.info(`Downloading ${repo} from ${endpoint}${stored ? ' with the stored token' : token ? ' with the token of HF_TOKEN or huggingface-cli login' : ''}.`);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Hasten: downloading ${repo}`, cancellable: true },
    async (progress, cancel) => {
      const ac = new AbortController();
      cancel.onCancellationRequested(() => ac.abort());
      const meter = new ProgressMeter();
      let shown = 0;
      let lastAt = 0;
      const snap = await downloadCheckpoint({
        repo, revision: preset?.revision, endpoint, token, signal: ac.signal,
        onProgress: (p) => {
          const now = Date.now();
          const message = meter.update(p, now);
          if (now - lastAt < 250 && p.done < p.total) return;
          lastAt = now;
          const pct = p.total ? (100 * p.done) / p.total : 0;
          progress.report({ message: `${p.file}: ${message}`, increment: pct - shown });
          shown = pct;
        },
      }, preset);
      const fetched = snap.files.filter((f) => !f.cached).length;
      ctx.log.info(`${repo} at ${snap.commit}: ${fetched} file(s) downloaded, ${snap.files.length - fetched} already in the cache (${snap.dir}).`);
      return snap;
    },
  );
}

async function buildAndSelect(ctx: Ctx, repo: string, snapshot: Snapshot): Promise<void> {
  const dtype = dtypeFor(device(ctx));
  const prepared = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Hasten: building ${repo} (${dtype})`, cancellable: true },
    async (progress, cancel) => {
      const ac = new AbortController();
      cancel.onCancellationRequested(() => ac.abort());
      let shown = 0;
      return prepareModel({
        snapshot, repo, dtype, modelsDir: path.join(ctx.storageDir, 'models'), signal: ac.signal,
        runBuild: forkBuild(path.join(ctx.extensionUri.fsPath, 'dist', 'buildProcess.js')),
        onProgress: (done, total, what) => {
          const pct = total ? (100 * done) / total : 0;
          progress.report({ message: what, increment: pct - shown });
          shown = pct;
        },
      });
    },
  );
  ctx.log.info(`${prepared.built ? 'Built' : 'Reusing the build of'} ${repo} at ${dtype}: ${prepared.dir}.`);
  await vscode.workspace.getConfiguration(CONFIG_SECTION).update('model', prepared.dir, vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage(`Hasten: ${repo} (${dtype}) is the model now.`);
}

async function report(ctx: Ctx, err: unknown): Promise<void> {
  if (isAbortError(err)) {
    ctx.log.info('Model download or build cancelled; a partial download is kept and resumes next time.');
    void vscode.window.showInformationMessage('Hasten: cancelled. A partial download is kept and resumes next time.');
    return;
  }
  const message = `Hasten: ${err instanceof Error ? err.message : String(err)}`;
  ctx.log.error(message);
  const action = await vscode.window.showErrorMessage(message, ...(err instanceof GatedRepoError ? [SET_TOKEN] : []));
  if (action === SET_TOKEN) await setHubToken(ctx);
}

/** Stores (or, when emptied, removes) the hub token in SecretStorage. */
export async function setHubToken(ctx: Ctx): Promise<void> {
  const had = Boolean(await ctx.secrets.get(TOKEN_KEY));
  const value = await vscode.window.showInputBox({
    title: 'Hasten: Hugging Face token', password: true, ignoreFocusOut: true,
    prompt: `A read token for gated or private repos, kept in VS Code's secret storage${had ? ' (one is stored; leave empty to remove it)' : ''}.`,
    placeHolder: 'hf_…',
  });
  if (value === undefined) return;
  if (value.trim() === '') {
    await ctx.secrets.delete(TOKEN_KEY);
    ctx.log.info('Hugging Face token removed.');
    return;
  }
  await ctx.secrets.store(TOKEN_KEY, value.trim());
  ctx.log.info('Hugging Face token stored.');
}

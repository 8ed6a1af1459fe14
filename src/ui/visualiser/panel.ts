// The visualiser panel host, in the shape of the VS Code webview sample: one panel at a time, a
// dispose() that empties its disposables, resources only from media/ and dist/, a strict CSP, and
// a serializer that brings the panel back after a reload (the webview keeps its own state).
import * as vscode from 'vscode';
import type { CompletionTrace } from '../../engine';
import { dispatchFromWebview, HISTORY_CAP, isFollowed, type ToWebview } from '../../protocol';
import { makeNonce, visualiserHtml } from './html';
import { historyEntry, viewTrace, type TraceSource } from './view';

/** A decode in progress, as the history reports it step by step. */
export interface LiveTrace {
  trace: CompletionTrace;
  uri: string;
  languageId: string;
  prefetch: boolean;
}

interface Subscription {
  dispose(): unknown;
}

/** A finished completion as the trace history records it (src/completion/history.ts's TraceRecord). */
export interface TraceRecord {
  trace: CompletionTrace;
  uri: string;
  languageId: string;
  shown: string;
  firstMs: number | null;
  totalMs: number;
  at: number;
  prefetch: boolean;
  served: boolean;
}

/** What the panel reads: the recorded completions and, when the history offers it, each decode's progress. */
export interface TraceFeed {
  list(): readonly TraceRecord[];
  onDidRecordTrace(listener: (r: TraceRecord) => void): Subscription;
  onDidUpdateTrace?(listener: (t: LiveTrace) => void): Subscription;
  /** A recorded prefetch was handed to the editor: it is now the completion to follow. */
  onDidServe?(listener: (r: TraceRecord) => void): Subscription;
}

export interface VisualiserDeps {
  extensionUri: vscode.Uri;
  feed: TraceFeed;
  log: vscode.LogOutputChannel;
}

export const VISUALISER_VIEW_TYPE = 'hasten.visualiser';
/** Live snapshots go out at most this often; the step records themselves are never dropped. */
const LIVE_INTERVAL_MS = 100;

const fromRecord = (r: TraceRecord): TraceSource => ({ ...r, live: false });
const fromLive = (t: LiveTrace): TraceSource => ({ ...t, shown: '', firstMs: null, totalMs: null, at: Date.now(), live: true, served: false });

export class VisualiserPanel {
  static currentPanel: VisualiserPanel | undefined;

  private readonly disposables: Subscription[] = [];
  private live: TraceSource | undefined;
  private liveTimer: ReturnType<typeof setTimeout> | undefined;
  private exporting = false;
  private disposed = false;

  /** Shows the panel, creating it if needed. */
  static createOrShow(deps: VisualiserDeps): VisualiserPanel {
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
    if (VisualiserPanel.currentPanel) {
      VisualiserPanel.currentPanel.panel.reveal(column, true);
      return VisualiserPanel.currentPanel;
    }
    const panel = vscode.window.createWebviewPanel(VISUALISER_VIEW_TYPE, 'Hasten Visualiser', { viewColumn: column, preserveFocus: true }, webviewOptions(deps.extensionUri));
    VisualiserPanel.currentPanel = new VisualiserPanel(panel, deps);
    return VisualiserPanel.currentPanel;
  }

  /** Takes over a panel VS Code restored after a reload. */
  static revive(panel: vscode.WebviewPanel, deps: VisualiserDeps): VisualiserPanel {
    VisualiserPanel.currentPanel?.dispose();
    panel.webview.options = webviewOptions(deps.extensionUri);
    VisualiserPanel.currentPanel = new VisualiserPanel(panel, deps);
    return VisualiserPanel.currentPanel;
  }

  private constructor(private readonly panel: vscode.WebviewPanel, private readonly deps: VisualiserDeps) {
    const webview = panel.webview;
    const dist = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(deps.extensionUri, 'dist', file)).toString();
    const media = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(deps.extensionUri, 'media', file)).toString();
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'icon.png');
    webview.html = visualiserHtml({ cspSource: webview.cspSource, nonce: makeNonce(), script: dist('webview.js'), style: media('visualiser.css') });
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      webview.onDidReceiveMessage((raw: unknown) =>
        dispatchFromWebview(raw, {
          ready: () => this.sendUpdate(),
          select: (m) => this.select(m.id),
          export: (m) => void this.export(m.svg, m.name),
        }, (error) => deps.log.warn(`Visualiser: ignored a malformed message from the webview: ${error}`)),
      ),
      deps.feed.onDidRecordTrace((r) => {
        if (this.live?.trace.id === r.trace.id) this.live = undefined;
        this.sendUpdate();
      }),
    );
    if (deps.feed.onDidServe) this.disposables.push(deps.feed.onDidServe(() => this.sendUpdate()));
    if (deps.feed.onDidUpdateTrace) {
      this.disposables.push(deps.feed.onDidUpdateTrace((t) => {
        this.live = fromLive(t);
        this.liveTimer ??= setTimeout(() => {
          this.liveTimer = undefined;
          if (this.live) this.sendUpdate();
        }, LIVE_INTERVAL_MS);
      }));
    }
  }

  /** The newest HISTORY_CAP completions, oldest first, then the decode in progress if any. */
  private sources(): TraceSource[] {
    const recorded = this.deps.feed.list().slice(-HISTORY_CAP).map(fromRecord);
    const live = this.live && !recorded.some((r) => r.trace.id === this.live!.trace.id) ? [this.live] : [];
    return [...recorded, ...live].slice(-HISTORY_CAP);
  }

  private post(message: ToWebview): void {
    void this.panel.webview.postMessage(message);
  }

  /** Every listed completion, and the one "Follow newest" shows: the newest the user asked for or saw, never an unseen prefetch. */
  private sendUpdate(): void {
    const sources = this.sources();
    const followed = [...sources].reverse().find(isFollowed);
    this.post({ type: 'update', history: sources.map(historyEntry), trace: followed ? viewTrace(followed) : null });
  }

  private select(id: number): void {
    const source = this.sources().find((s) => s.trace.id === id);
    if (!source) {
      this.deps.log.warn(`Visualiser: completion #${id} is no longer in the history (it keeps the last ${HISTORY_CAP}).`);
      return;
    }
    this.post({ type: 'trace', trace: viewTrace(source) });
  }

  private async export(svg: string, name: string): Promise<void> {
    if (this.exporting) return;
    this.exporting = true;
    try {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const target = await vscode.window.showSaveDialog({
        title: 'Export the Hasten visualiser view as SVG',
        saveLabel: 'Export',
        filters: { 'SVG image': ['svg'] },
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
      });
      if (!target) return;
      await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(svg));
      this.deps.log.info(`Visualiser: exported ${target.fsPath}`);
      this.post({ type: 'exported', path: target.fsPath });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.deps.log.error(`Visualiser: export failed: ${message}`);
      this.post({ type: 'exportFailed', message });
    } finally {
      this.exporting = false;
    }
  }

  dispose(): void {
    // Disposing the panel fires onDidDispose, which calls this again.
    if (this.disposed) return;
    this.disposed = true;
    if (VisualiserPanel.currentPanel === this) VisualiserPanel.currentPanel = undefined;
    if (this.liveTimer) clearTimeout(this.liveTimer);
    this.panel.dispose();
    while (this.disposables.length) this.disposables.pop()?.dispose();
  }
}

function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media'), vscode.Uri.joinPath(extensionUri, 'dist')],
  };
}

/** Registers the serializer that restores the panel after a window reload. */
export function registerVisualiserSerializer(deps: VisualiserDeps): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(VISUALISER_VIEW_TYPE, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
      VisualiserPanel.revive(panel, deps);
    },
  });
}

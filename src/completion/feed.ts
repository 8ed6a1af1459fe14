// Feeds the editor's documents to the extra-context ring (chunks around edits, opened files and
// cut/copied text) and to the engine's workspace-retrieval index (whole documents, debounced).
import * as vscode from 'vscode';
import type { ContextConfig } from '../config';
import type { RetrievalIndexLike } from './retrievalFeed';
import { RetrievalFeed } from './retrievalFeed';
import { chunkAround, type ContextRing } from './ring';
import type { Log } from './service';

const FED_SCHEMES = new Set(['file', 'untitled', 'vscode-remote', 'vscode-userdata']);

function fed(doc: vscode.TextDocument): boolean {
  return FED_SCHEMES.has(doc.uri.scheme) && doc.languageId !== 'log' && doc.languageId !== 'Log';
}

export class WorkspaceFeed implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly retrieval: RetrievalFeed;
  /** Last non-empty selection per editor document, to notice it being cut or copied. */
  private lastSelection: { uri: string; text: string; range: vscode.Range; checked: boolean } | undefined;

  constructor(private readonly ring: ContextRing, index: () => RetrievalIndexLike | undefined, private readonly config: () => ContextConfig, log: Log) {
    this.retrieval = new RetrievalFeed(index, () => this.config().retrievalMaxFileChars, log);
    this.disposables.push(
      vscode.workspace.onDidOpenTextDocument((doc) => this.opened(doc)),
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      vscode.workspace.onDidCloseTextDocument((doc) => fed(doc) && this.retrieval.cancel(doc.uri.toString())),
      vscode.workspace.onDidDeleteFiles((e) => e.files.forEach((f) => this.retrieval.remove(f.toString()))),
      vscode.window.onDidChangeActiveTextEditor((ed) => ed && this.opened(ed.document)),
      vscode.window.onDidChangeTextEditorSelection((e) => this.selection(e)),
    );
  }

  /** Indexes every open document (at start, and after the engine was reloaded). */
  reindexAll(): void {
    for (const doc of vscode.workspace.textDocuments) if (fed(doc)) this.retrieval.schedule(doc.uri.toString(), () => doc.getText(), 0);
  }

  private source(doc: vscode.TextDocument): string {
    return vscode.workspace.asRelativePath(doc.uri, false);
  }

  private opened(doc: vscode.TextDocument): void {
    if (!fed(doc)) return;
    const editor = vscode.window.activeTextEditor;
    const line = editor?.document === doc ? editor.selection.active.line : 0;
    this.ring.add(this.source(doc), chunkAround(doc.getText(), line, this.config().chunkLines));
    this.retrieval.schedule(doc.uri.toString(), () => doc.getText());
  }

  private changed(e: vscode.TextDocumentChangeEvent): void {
    const doc = e.document;
    if (!fed(doc) || e.contentChanges.length === 0) return;
    this.retrieval.schedule(doc.uri.toString(), () => doc.getText());
    const cut = this.lastSelection;
    for (const c of e.contentChanges) {
      // A cut: the change deletes exactly the selection we last saw.
      if (cut && cut.uri === doc.uri.toString() && c.text === '' && c.range.isEqual(cut.range)) this.ring.add(`${this.source(doc)} (cut)`, cut.text);
    }
    // Edits: the region around the last edit, once it spans a line break (typing a line is not news yet).
    const last = e.contentChanges[e.contentChanges.length - 1]!;
    if (last.text.includes('\n') || last.range.start.line !== last.range.end.line) {
      this.ring.add(this.source(doc), chunkAround(doc.getText(), last.range.start.line, this.config().chunkLines));
    }
  }

  private selection(e: vscode.TextEditorSelectionChangeEvent): void {
    const doc = e.textEditor.document;
    const sel = e.selections[0];
    if (!fed(doc) || !sel) return;
    if (!sel.isEmpty) {
      this.lastSelection = { uri: doc.uri.toString(), text: doc.getText(sel), range: sel, checked: false };
      return;
    }
    const prev = this.lastSelection;
    if (!prev || prev.checked || prev.uri !== doc.uri.toString()) return;
    prev.checked = true;
    // The selection was dropped: if it was copied, it is on the clipboard. Only desktop VS Code reads
    // the clipboard silently (a browser would ask the user), so code-server never looks.
    if (vscode.env.uiKind !== vscode.UIKind.Desktop) return;
    void vscode.env.clipboard.readText().then((clip) => {
      if (clip === prev.text) this.ring.add(`${vscode.workspace.asRelativePath(vscode.Uri.parse(prev.uri), false)} (copied)`, clip);
    }, () => {});
  }

  dispose(): void {
    this.retrieval.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}

// The inline completion provider: turns VS Code's request into a ProvideRequest, asks the
// service, shapes the item. It does no model work itself.
import * as vscode from 'vscode';
import type { CompletionConfig } from '../config';
import { windowsAt, type TextSource } from './context';
import { lineComment, type ContextRing } from './ring';
import type { CompletionService, ProvideRequest } from './service';

export interface ProviderDeps {
  service: CompletionService;
  ring: ContextRing;
  /** Completion settings for a document (some are language-overridable). */
  config(doc: vscode.TextDocument): CompletionConfig;
  extraChars(): number;
}

/** Reads a document by offsets without copying all of it. */
export function documentSource(doc: vscode.TextDocument): TextSource {
  const length = doc.offsetAt(doc.lineAt(doc.lineCount - 1).range.end);
  return { length, slice: (a, b) => doc.getText(new vscode.Range(doc.positionAt(a), doc.positionAt(b))) };
}

/** Builds the engine-independent request for a cursor position. */
export function requestAt(doc: vscode.TextDocument, position: vscode.Position, deps: ProviderDeps): ProvideRequest {
  const cfg = deps.config(doc);
  const offset = doc.offsetAt(position);
  const w = windowsAt(documentSource(doc), offset, cfg);
  const chunks = deps.ring.pick(w.prefix + w.suffix, deps.extraChars()).map(({ source, text }) => ({ source, text }));
  const context = {
    chunks, path: vscode.workspace.asRelativePath(doc.uri, false), comment: lineComment(doc.languageId),
    ...(vscode.workspace.name ? { repo: vscode.workspace.name } : {}),
  };
  return { uri: doc.uri.toString(), languageId: doc.languageId, version: doc.version, offset, ...w, context };
}

export class HastenInlineProvider implements vscode.InlineCompletionItemProvider {
  constructor(private readonly deps: ProviderDeps) {}

  async provideInlineCompletionItems(doc: vscode.TextDocument, position: vscode.Position, _context: vscode.InlineCompletionContext, token: vscode.CancellationToken): Promise<vscode.InlineCompletionItem[] | undefined> {
    if (!this.deps.config(doc).enable) return undefined;
    const req = requestAt(doc, position, this.deps);
    const ctrl = new AbortController();
    const sub = token.onCancellationRequested(() => ctrl.abort());
    try {
      const text = await this.deps.service.provide(req, ctrl.signal, () => !token.isCancellationRequested && doc.version === req.version);
      if (text === undefined || token.isCancellationRequested || doc.version !== req.version) return undefined;
      return [new vscode.InlineCompletionItem(text, new vscode.Range(position, position))];
    } finally {
      sub.dispose();
    }
  }
}

/**
 * Streaming: when a suggestion already shown grows, ask VS Code for it again, provided the
 * editor is still where that suggestion was made.
 */
export function retriggerOnExtend(service: CompletionService): vscode.Disposable {
  return service.onDidExtend((req) => {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.uri.toString() !== req.uri || editor.document.version !== req.version) return;
    if (editor.document.offsetAt(editor.selection.active) !== req.offset || !editor.selection.isEmpty) return;
    void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
  });
}

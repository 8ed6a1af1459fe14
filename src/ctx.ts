import type * as vscode from 'vscode';

/** What every command and UI part may use: created once in activate(), passed explicitly. */
export interface Ctx {
  readonly log: vscode.LogOutputChannel;
}

import * as vscode from 'vscode';
import { STATUS_ITEM_ID, statusView, type Health } from './status';

/** The Hasten status bar item; clicking it shows the log. */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(STATUS_ITEM_ID, vscode.StatusBarAlignment.Right, 100);

  constructor(health: Health) {
    this.item.name = 'Hasten';
    this.item.command = 'hasten.showLog';
    this.update(health);
    this.item.show();
  }

  /** Shows a new health state. */
  update(health: Health): void {
    const view = statusView(health);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
  }

  dispose(): void {
    this.item.dispose();
  }
}

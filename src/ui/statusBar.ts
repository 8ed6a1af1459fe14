import * as vscode from 'vscode';
import { STATUS_ITEM_ID, statusView, type Health, type LastCompletion } from './status';

/** The Hasten status bar item; clicking it offers the main commands. */
export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(STATUS_ITEM_ID, vscode.StatusBarAlignment.Right, 100);
  private health: Health;
  private last: LastCompletion | undefined;

  constructor(health: Health) {
    this.item.name = 'Hasten';
    this.item.command = 'hasten.showMenu';
    this.health = health;
    this.render();
    this.item.show();
  }

  /** Shows a new health state. */
  update(health: Health): void {
    this.health = health;
    this.render();
  }

  /** Shows a completion's speed; undefined clears it (a model switch). */
  completed(last: LastCompletion | undefined): void {
    this.last = last;
    this.render();
  }

  private render(): void {
    const view = statusView(this.health, this.last);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.background ? new vscode.ThemeColor(view.background) : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}

import type * as vscode from 'vscode';
import type { HastenConfig } from './config';
import type { EngineHost } from './completion/engineHost';
import type { TraceHistory } from './completion/history';
import type { CompletionService } from './completion/service';

/** What every command and UI part may use: created once in activate(), passed explicitly. */
export interface Ctx {
  readonly log: vscode.LogOutputChannel;
  /** The extension's folder (media/, dist/, models/). */
  readonly extensionUri: vscode.Uri;
  readonly host: EngineHost;
  readonly service: CompletionService;
  /** Every completion's trace, for the visualiser. */
  readonly history: TraceHistory;
  /** The current settings. */
  config(): HastenConfig;
  /** Where secrets live (the hub token). */
  readonly secrets: vscode.SecretStorage;
  /** The extension's global storage folder (built models). */
  readonly storageDir: string;
  /** The folder relative model paths are resolved against (the first workspace folder). */
  baseDir(): string | undefined;
}

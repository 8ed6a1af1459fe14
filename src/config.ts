/** Typed view of the `hasten.*` settings. Later issues group new settings by what a change invalidates. */
export interface HastenConfig {
  /** UI only: whether completions are offered. */
  readonly enable: boolean;
}

/** The subset of vscode.WorkspaceConfiguration we read, so this file stays testable without VS Code. */
export interface SettingsReader {
  get<T>(key: string, defaultValue: T): T;
}

export const CONFIG_SECTION = 'hasten';

/** Reads `hasten.*` settings with the same defaults as package.json. */
export function readConfig(settings: SettingsReader): HastenConfig {
  return { enable: settings.get<boolean>('enable', true) };
}

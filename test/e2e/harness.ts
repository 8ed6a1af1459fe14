// Drives the real VS Code workbench (code-server) with the packaged .vsix installed, through Debian's chromium.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startCodeServer, type CodeServer } from '../../scripts/code-server';
import { packageVsix } from '../../scripts/package';
import { STATUS_ITEM_ID } from '../../src/ui/status';

const ROOT = join(__dirname, '..', '..');
/** Failure screenshots and logs go here (gitignored). */
export const RESULTS_DIR = join(ROOT, 'test-results');
export const FIXTURE_WORKSPACE = join(ROOT, 'test', 'fixtures', 'workspace');
const TIMEOUT_MS = 60_000;

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export interface VSCodeOptions {
  /** Folder to copy and open; the copy keeps the fixture clean. Defaults to test/fixtures/workspace. */
  readonly workspace?: string;
  /** User settings over the harness defaults. */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** Environment for code-server and so for the extension host. */
  readonly env?: Readonly<Record<string, string>>;
  /** The .vsix to install; defaults to $HASTEN_VSIX, else one built by `npm run package`. */
  readonly vsix?: string;
}

export interface VSCode {
  readonly page: Page;
  /** The opened copy of the workspace. */
  readonly workspace: string;
  /** What code-server printed so far. */
  logs(): string;
  /** code-server's user-data folder; output channels log to files under its logs/. */
  readonly userDataDir: string;
  /** Saves a screenshot and code-server's log under test-results/; returns the screenshot's path. */
  saveFailure(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** Where the browser comes from: $HASTEN_CHROMIUM or Debian's chromium. */
export function chromiumPath(): string {
  const path = process.env.HASTEN_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(`Chromium not found at ${path}. Install it with: apt-get install -y chromium (or set HASTEN_CHROMIUM to a Chromium binary).`);
  }
  return path;
}

let builtVsix: Promise<string> | undefined;
function vsixPath(options: VSCodeOptions): Promise<string> {
  const given = options.vsix ?? process.env.HASTEN_VSIX;
  if (given) return Promise.resolve(given);
  builtVsix ??= packageVsix({ log: () => {} }).then((r) => r.path);
  return builtVsix;
}

/** Starts code-server with Hasten installed, opens the workspace in chromium and waits for the workbench. */
export async function startVSCode(options: VSCodeOptions = {}): Promise<VSCode> {
  const executablePath = chromiumPath();
  const tmp = mkdtempSync(join(tmpdir(), 'hasten-e2e-'));
  const workspace = join(tmp, 'workspace');
  cpSync(options.workspace ?? FIXTURE_WORKSPACE, workspace, { recursive: true });
  const cleanup: (() => Promise<void>)[] = [async () => rmSync(tmp, { recursive: true, force: true })];
  const stop = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  };
  try {
    const server: CodeServer = await startCodeServer({
      workspace,
      extensions: [await vsixPath(options)],
      ...(options.settings ? { settings: options.settings } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    cleanup.push(() => server.stop());
    const browser: Browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, timeout: TIMEOUT_MS });
    cleanup.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(TIMEOUT_MS);
    await page.goto(server.url, { timeout: TIMEOUT_MS });
    await page.locator('.monaco-workbench').waitFor({ timeout: TIMEOUT_MS });
    return {
      page,
      workspace,
      logs: () => server.logs(),
      userDataDir: server.userDataDir,
      saveFailure: (name) => saveFailure(page, server, name),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function saveFailure(page: Page, server: CodeServer, name: string): Promise<string> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const base = join(RESULTS_DIR, name.replace(/[^\w.-]+/g, '_'));
  writeFileSync(`${base}.code-server.log`, server.logs());
  await page.screenshot({ path: `${base}.png`, timeout: 10_000 });
  return `${base}.png`;
}

/** Runs `body` against a fresh VS Code; on failure saves a screenshot and the logs, and always stops it. */
export async function withVSCode(name: string, options: VSCodeOptions, body: (vscode: VSCode) => Promise<void>): Promise<void> {
  const vscode = await startVSCode(options);
  try {
    await body(vscode);
  } catch (err) {
    const saved = await vscode.saveFailure(name).catch((e: unknown) => `(screenshot failed: ${String(e)})`);
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${message}\nscreenshot: ${saved} (code-server's log beside it)`, { cause: err });
  } finally {
    await vscode.stop();
  }
}

/** The status bar item's DOM id: `publisher.name.itemId`. */
export function statusItemId(): string {
  const { publisher, name } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { publisher: string; name: string };
  return `${publisher}.${name}.${STATUS_ITEM_ID}`;
}

/** Waits until Hasten has activated, which shows its status bar item (8-10 s after the workbench appears). */
export async function waitForActivation(page: Page): Promise<void> {
  await page.locator(`[id="${statusItemId()}"]`).waitFor({ state: 'visible', timeout: TIMEOUT_MS });
}

/** Opens the command palette, types `query` and returns the labels it lists. The palette stays open. */
export async function paletteCommands(page: Page, query: string): Promise<string[]> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${query}`);
  const rows = page.locator('.quick-input-list .monaco-list-row');
  await rows.first().waitFor({ state: 'visible' });
  return rows.locator('.label-name').allInnerTexts();
}

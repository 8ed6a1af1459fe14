// Installs code-server (the real VS Code workbench, served to a browser) into a cache outside the repo,
// and starts throw-away instances of it. Used by the end-to-end tests and by `npm run demo`.
// CLI: tsx scripts/code-server.ts install
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { killGroup, runCommand, tail } from './proc';

export const CODE_SERVER_VERSION = '4.100.3';
const INSTALL_TIMEOUT_MS = 30 * 60_000;
const START_TIMEOUT_MS = 90_000;

/** Where installed tools are cached between runs; override with HASTEN_E2E_CACHE. */
export function cacheDir(): string {
  return process.env.HASTEN_E2E_CACHE ?? join(homedir(), '.cache', 'hasten-e2e');
}

function installDir(): string {
  return join(cacheDir(), `code-server-${CODE_SERVER_VERSION}`);
}

function entryPoint(): string {
  return join(installDir(), 'node_modules', 'code-server', 'out', 'node', 'entry.js');
}

const installedMarker = () => join(installDir(), '.hasten-installed');

/** What code-server's native modules need to build, as [what is missing, the apt package that provides it]. */
export function missingPrerequisites(has: (path: string) => boolean = existsSync, onPath: (cmd: string) => boolean = commandExists): [string, string][] {
  const missing: [string, string][] = [];
  if (!onPath('rg')) missing.push(['rg (ripgrep)', 'ripgrep']);
  if (!has('/usr/bin/krb5-config')) missing.push(['Kerberos headers', 'libkrb5-dev']);
  if (!onPath('make') || !onPath('g++')) missing.push(['make and g++', 'build-essential']);
  if (!onPath('python3')) missing.push(['python3 (for node-gyp)', 'python3']);
  if (!has(join(nodeDir(), 'include', 'node', 'node.h'))) missing.push([`Node.js headers in ${nodeDir()}/include/node`, 'nodejs (from the same source as your node)']);
  return missing;
}

/** The error for missing prerequisites: what is missing and the apt-get line that installs it. */
export function prerequisiteMessage(missing: readonly [string, string][]): string {
  return (
    `cannot install code-server ${CODE_SERVER_VERSION}: missing ${missing.map((m) => m[0]).join(', ')}.\n` +
    `Install them with: apt-get install -y ${missing.map((m) => m[1].split(' ')[0]).join(' ')}`
  );
}

/** The prefix this node was installed under (/usr for Debian's packages); its headers are in include/node. */
function nodeDir(): string {
  return resolve(process.execPath, '..', '..');
}

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs code-server once into the cache (a no-op when it is there) and returns its entry script. */
export async function ensureCodeServer(log: (line: string) => void = console.log): Promise<string> {
  if (existsSync(installedMarker()) && existsSync(entryPoint())) return entryPoint();
  const missing = missingPrerequisites();
  if (missing.length > 0) throw new Error(prerequisiteMessage(missing));
  return withLock(join(cacheDir(), '.install.lock'), async () => {
    if (existsSync(installedMarker()) && existsSync(entryPoint())) return entryPoint();
    await install(log);
    return entryPoint();
  });
}

async function install(log: (line: string) => void): Promise<void> {
  const dir = installDir();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'hasten-e2e-code-server', private: true }));
  seedRipgrepCache();
  const logFile = join(dir, 'install.log');
  log(`[code-server] installing ${CODE_SERVER_VERSION} into ${dir} (takes minutes; log: ${logFile})`);
  const started = Date.now();
  let written = '';
  try {
    await runCommand('npm', ['install', '--unsafe-perm', '--foreground-scripts', '--no-audit', '--no-fund', `code-server@${CODE_SERVER_VERSION}`], {
      cwd: dir,
      timeoutMs: INSTALL_TIMEOUT_MS,
      env: {
        ...process.env,
        npm_config_yes: 'true', // node-pty runs `npx node-gyp`, whose prompt would cancel the install
        npm_config_nodedir: nodeDir(), // node-gyp finds Node's headers here instead of downloading them
        // npm 11 blocks dependency install scripts by default; code-server's native modules need theirs.
        npm_config_dangerously_allow_all_scripts: 'true',
      },
      onOutput: (chunk) => {
        written += chunk;
        writeFileSync(logFile, written);
      },
    });
  } catch (err) {
    throw new Error(
      `installing code-server ${CODE_SERVER_VERSION} failed (full log: ${logFile}).\n` +
        `It needs the npm registry, and apt packages libkrb5-dev ripgrep build-essential python3 to build its native modules.\n` +
        (err instanceof Error ? err.message : String(err)),
    );
  }
  if (!existsSync(entryPoint())) throw new Error(`code-server installed, but ${entryPoint()} is missing; see ${logFile}`);
  writeFileSync(installedMarker(), `${new Date().toISOString()}\n`);
  log(`[code-server] installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** @vscode/ripgrep's postinstall downloads rg from GitHub; hand it Debian's rg in the cache it checks first. */
function seedRipgrepCache(): void {
  if (process.platform !== 'linux' || process.arch !== 'x64') return; // the seeded name below is x64's
  const rg = spawnSync('sh', ['-c', 'command -v rg'], { encoding: 'utf8' }).stdout.trim();
  const cache = join(tmpdir(), 'vscode-ripgrep-cache-1.15.11');
  const tarball = join(cache, 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz');
  if (!rg || existsSync(tarball)) return;
  const staging = mkdtempSync(join(tmpdir(), 'hasten-rg-'));
  copyFileSync(rg, join(staging, 'rg'));
  mkdirSync(cache, { recursive: true });
  const tar = spawnSync('tar', ['-czf', tarball, '-C', staging, 'rg']);
  rmSync(staging, { recursive: true, force: true });
  if (tar.status !== 0) throw new Error(`could not seed the ripgrep cache: tar failed: ${tar.stderr}`);
}

/** Runs `body` holding a lock directory, so parallel test processes install only once. */
async function withLock<T>(lock: string, body: () => Promise<T>): Promise<T> {
  mkdirSync(join(lock, '..'), { recursive: true });
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      if (!lockHolderAlive(lock)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}, held by another install`);
      else await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function lockHolderAlive(lock: string): boolean {
  try {
    process.kill(Number(readFileSync(join(lock, 'pid'), 'utf8')), 0);
    return true;
  } catch (err) {
    // No pid file yet means the holder is between mkdir and write: treat it as alive.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** User settings that keep the workbench quiet and stop other suggestion UIs from taking Tab. */
export const DEFAULT_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
  'editor.suggestOnTriggerCharacters': false,
  'editor.wordBasedSuggestions': 'off',
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'git.enabled': false,
  'security.workspace.trust.enabled': false,
};

export interface StartOptions {
  /** The folder to open. */
  readonly workspace: string;
  /** .vsix files to install before starting. */
  readonly extensions?: readonly string[];
  /** User settings, merged over DEFAULT_SETTINGS. */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** Extra environment for code-server; it reaches the extension host. */
  readonly env?: Readonly<Record<string, string>>;
  /** 0 or absent: a free port. */
  readonly port?: number;
}

export interface CodeServer {
  /** The URL that opens the workspace. */
  readonly url: string;
  /** Everything code-server printed so far. */
  logs(): string;
  /** Its throw-away user-data folder (settings, and the logs of every output channel under logs/). */
  readonly userDataDir: string;
  /** Stops code-server (its whole process group) and deletes its throw-away folders. */
  stop(): Promise<void>;
}

const started = new Set<number>();
process.on('exit', () => started.forEach((pid) => killGroup(pid, 'SIGKILL')));

/** Starts a throw-away code-server on 127.0.0.1 with its own user-data, extensions and XDG folders. */
export async function startCodeServer(options: StartOptions): Promise<CodeServer> {
  const entry = await ensureCodeServer();
  const root = mkdtempSync(join(tmpdir(), 'hasten-code-server-'));
  const dirs = { userData: join(root, 'user-data'), extensions: join(root, 'extensions'), xdg: join(root, 'xdg') };
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  writeFileSync(join(dirs.userData, 'User', 'settings.json'), JSON.stringify({ ...DEFAULT_SETTINGS, ...options.settings }, null, 2));
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: join(dirs.xdg, 'config'),
    XDG_DATA_HOME: join(dirs.xdg, 'data'),
    XDG_CACHE_HOME: join(dirs.xdg, 'cache'),
    ...options.env,
  };
  const common = ['--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
  try {
    for (const vsix of options.extensions ?? []) {
      await runCommand(process.execPath, [entry, ...common, '--install-extension', vsix], { env, timeoutMs: 120_000 });
    }
    const port = options.port || (await freePort());
    const args = [entry, ...common, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
      '--disable-workspace-trust', '--disable-getting-started-override', options.workspace];
    const server = await launch(args, env);
    return {
      url: `http://127.0.0.1:${port}/?folder=${encodeURIComponent(options.workspace)}`,
      logs: server.logs,
      userDataDir: dirs.userData,
      stop: async () => {
        await server.stop();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

function launch(args: string[], env: NodeJS.ProcessEnv): Promise<{ logs: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid !== undefined) started.add(pid);
  let output = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    killGroup(pid, 'SIGKILL'); // children that outlived their parent
    if (pid !== undefined) started.delete(pid);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`code-server did not print "HTTP server listening on" within ${START_TIMEOUT_MS / 1000} s\n${tail(output, 30)}`));
    }, START_TIMEOUT_MS);
    const onData = (data: Buffer) => {
      output += data.toString();
      if (/HTTP server listening on/.test(output)) {
        clearTimeout(timer);
        resolve({ logs: () => output, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start code-server: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited (${code ?? signal}) before it was ready\n${tail(output, 30)}`));
    });
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

if (require.main === module) {
  const [command] = process.argv.slice(2);
  if (command !== 'install') {
    console.error('usage: tsx scripts/code-server.ts install');
    process.exit(2);
  }
  ensureCodeServer()
    .then((entry) => console.log(`[code-server] ${CODE_SERVER_VERSION} ready: ${entry}`))
    .catch((err: unknown) => {
      console.error(`[code-server] ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}

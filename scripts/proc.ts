import { spawn } from 'node:child_process';

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Kill the command (and its process group) after this long. */
  readonly timeoutMs: number;
  /** Called with each chunk of output, e.g. to stream it or write a log file. */
  readonly onOutput?: (chunk: string) => void;
}

export interface RunResult {
  readonly output: string;
}

/** Runs a command in its own process group, collecting stdout and stderr; rejects with the output's tail on failure. */
export function runCommand(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (data: Buffer) => {
      const text = data.toString();
      output += text;
      options.onOutput?.(text);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ output });
      const why = timedOut ? `timed out after ${options.timeoutMs / 1000} s` : `exited with ${code ?? signal}`;
      reject(new Error(`${command} ${args.join(' ')} ${why}\n--- last output ---\n${tail(output, 40)}`));
    });
  });
}

/** Sends a signal to a process group this module started; ignores groups that are already gone. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already exited
  }
}

/** The last `lines` lines of a text. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

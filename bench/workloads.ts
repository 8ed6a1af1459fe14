// The benchmark's workloads: prompts cut from the held-out packages (bench/workloads.json), and the
// tuning prompts that policies are measured on (bench/tuning.json).
import fs from 'node:fs';
import path from 'node:path';
import type { RetrievalIndex } from '../src/engine/drafters/retrieval';

export type WorkloadKind = 'line-start' | 'mid-line' | 'repetitive';
export const WORKLOAD_KINDS: readonly WorkloadKind[] = ['line-start', 'mid-line', 'repetitive'];

export interface WorkloadItem {
  id: string;
  kind: WorkloadKind;
  source: string;
  license: string;
  lang: string;
  prefix: string;
  suffix: string;
  truth: string;
}

export const WORKLOADS_FILE = path.join(__dirname, 'workloads.json');
/**
 * The tuning prompts: the same kinds, cut from code neither trained on nor held out (Python's lib2to3, which
 * the corpus excludes, and Hasten's own source; `node models/toolchain/workloads.mjs --tuning`). Policies are
 * measured on these, so the benchmark's held-out prompts are never tuned against.
 */
export const TUNING_FILE = path.join(__dirname, 'tuning.json');

/** The prompt sets a bench command can run on. */
export const PROMPT_SETS = { heldout: WORKLOADS_FILE, tuning: TUNING_FILE } as const;
export type PromptSet = keyof typeof PROMPT_SETS;

/**
 * The file of the prompt set a `--prompts` option names. Anything else goes to `bad` with a message naming the
 * sets: a command's own usage error (which exits), or by default a thrown Error.
 */
export function promptSetFile(name: unknown, bad: (message: string) => never = (m) => { throw new Error(m); }): string {
  if (typeof name !== 'string' || !Object.hasOwn(PROMPT_SETS, name)) bad(`--prompts must be one of ${Object.keys(PROMPT_SETS).join(', ')} (got ${String(name)})`);
  return PROMPT_SETS[name as PromptSet];
}

/** Loads the items of the given kinds, at most `limit` of each, in file order. */
export function loadWorkloads(kinds: readonly WorkloadKind[] = WORKLOAD_KINDS, limit = Infinity, file: string = WORKLOADS_FILE): WorkloadItem[] {
  const all = (JSON.parse(fs.readFileSync(file, 'utf8')) as { items: WorkloadItem[] }).items;
  return kinds.flatMap((k) => all.filter((i) => i.kind === k).slice(0, limit));
}

/**
 * The workspace that retrieval searches in a bench run: one document per held-out source file, each as
 * the editor holds it at the cursor of the item being completed (its prefix and suffix). The text to be
 * completed is never in it: not in the item's own document, and not through another item cut from the
 * same file (whose prefix or suffix may hold this item's truth: 19 of the headline's 90 items).
 */
export class BenchWorkspace {
  private readonly held = new Map<string, string>();
  constructor(private readonly indexes: readonly RetrievalIndex[]) {}

  /** Indexes every source once, as its first item sees it. */
  async load(items: readonly WorkloadItem[]): Promise<void> {
    for (const it of items) if (!this.held.has(it.source)) await this.at(it);
  }

  /** Before completing `item`: its source as the editor holds it at the item's cursor (re-indexed only when it changes). */
  async at(item: WorkloadItem): Promise<void> {
    const text = item.prefix + item.suffix;
    if (this.held.get(item.source) === text) return;
    for (const index of this.indexes) await index.update(item.source, text);
    this.held.set(item.source, text);
  }
}

// The benchmark's workloads: prompts cut from the held-out packages (bench/workloads.json).
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

/** Loads the items of the given kinds, at most `limit` of each, in file order. */
export function loadWorkloads(kinds: readonly WorkloadKind[] = WORKLOAD_KINDS, limit = Infinity): WorkloadItem[] {
  const all = (JSON.parse(fs.readFileSync(WORKLOADS_FILE, 'utf8')) as { items: WorkloadItem[] }).items;
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

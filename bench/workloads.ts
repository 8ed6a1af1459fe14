// The benchmark's workloads: prompts cut from the held-out packages (bench/workloads.json).
import fs from 'node:fs';
import path from 'node:path';

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

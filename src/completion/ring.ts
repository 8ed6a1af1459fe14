// The extra-context ring: chunks of code from recently edited and opened files and from cut/copied
// text, newest last. A chunk that is nearly the same as one already held (Jaccard similarity of
// their line sets) replaces it, so the ring never fills up with copies of one region.

export interface Chunk {
  /** Where it came from, e.g. a workspace-relative path; shown to the model as a header. */
  source: string;
  text: string;
  /** Set of trimmed non-blank lines, for the similarity test. */
  lines: ReadonlySet<string>;
}

export interface RingOptions {
  /** Chunks kept; the oldest leaves first. */
  capacity: number;
  /** Lines per chunk taken from a document. */
  chunkLines: number;
  /** Similarity at or above which a new chunk evicts an old one. */
  similarity: number;
}

/** A chunk with this share of its lines around the cursor is not picked (`ContextRing.pick`). */
const NEAR_SHARE = 0.5;

export const DEFAULT_RING: RingOptions = { capacity: 16, chunkLines: 32, similarity: 0.7 };

function lineSet(text: string): Set<string> {
  return new Set(text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0));
}

/** |A ∩ B| / |A ∪ B|; two empty sets are identical. */
export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let common = 0;
  for (const x of a) if (b.has(x)) common++;
  return common / (a.size + b.size - common);
}

/** The `chunkLines` lines of `text` centred on `line` (0-based). */
export function chunkAround(text: string, line: number, chunkLines: number): string {
  const lines = text.split('\n');
  const start = Math.max(0, Math.min(lines.length - chunkLines, line - Math.floor(chunkLines / 2)));
  return lines.slice(start, start + chunkLines).join('\n');
}

export class ContextRing {
  private chunks: Chunk[] = [];

  constructor(private o: RingOptions = DEFAULT_RING) {}

  get size(): number {
    return this.chunks.length;
  }

  get options(): RingOptions {
    return this.o;
  }

  /** Changes capacity or chunk size; drops the oldest chunks that no longer fit. */
  resize(o: Partial<RingOptions>): void {
    this.o = { ...this.o, ...o };
    this.chunks = this.chunks.slice(Math.max(0, this.chunks.length - this.o.capacity));
  }

  /** Adds a chunk; near-duplicates of it leave. Chunks with fewer than 3 distinct lines say too little to keep. */
  add(source: string, text: string): boolean {
    if (this.o.capacity === 0) return false;
    const lines = lineSet(text);
    if (lines.size < 3) return false;
    this.chunks = this.chunks.filter((c) => jaccard(c.lines, lines) < this.o.similarity);
    this.chunks.push({ source, text, lines });
    while (this.chunks.length > this.o.capacity) this.chunks.shift();
    return true;
  }

  /**
   * Chunks newest first, skipping those with half their lines or more in the text around the cursor
   * (already in the prompt). That takes out the chunks the editor adds around each new line typed in
   * the cursor's file (centred on the line, so a few of their lines lie past the suffix window): picked,
   * each new line would change the extra context, which comes first in the prompt, and cost a whole prefill.
   */
  pick(around: string, maxChars: number): Chunk[] {
    const near = lineSet(around);
    const out: Chunk[] = [];
    let used = 0;
    for (let i = this.chunks.length - 1; i >= 0; i--) {
      const c = this.chunks[i]!;
      if (shareIn(c.lines, near) >= NEAR_SHARE) continue;
      if (used + c.text.length > maxChars) continue;
      out.push(c);
      used += c.text.length;
    }
    return out;
  }

  clear(): void {
    this.chunks = [];
  }
}

/** The share of `a`'s lines that are in `b` (1 for an empty `a`). */
function shareIn(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0) return 1;
  let common = 0;
  for (const x of a) if (b.has(x)) common++;
  return common / a.size;
}

/** Line comment tokens by VS Code language id; others get `//`. */
const LINE_COMMENT: Record<string, string> = {
  python: '#', shellscript: '#', ruby: '#', perl: '#', r: '#', yaml: '#', toml: '#', dockerfile: '#', makefile: '#', powershell: '#', elixir: '#', julia: '#',
  lua: '--', sql: '--', haskell: '--',
};

/**
 * The line comment of a language. For a model without a repository-context format, the engine puts
 * extra context in as commented code, which cannot change what the file's own code means.
 */
export function lineComment(languageId: string): string {
  return LINE_COMMENT[languageId] ?? '//';
}

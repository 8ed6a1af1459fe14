// The completion cache: an LRU keyed on the context around the cursor. An entry may still be
// growing (its decode is in flight); readers wait on it instead of starting another decode. While
// the user types characters that match a suggestion, the rest is served from the entry they typed into.
import { LRUCache } from 'lru-cache';

/** Characters of prefix and suffix that make up a key: enough to tell places apart, cheap to compare. */
export const KEY_PREFIX_CHARS = 1024;
export const KEY_SUFFIX_CHARS = 256;
/** How far back a typed-through lookup searches. */
export const MAX_TYPED_THROUGH = 64;

/** A suggestion, complete or still decoding. */
export class Entry {
  /** The suggestion so far (already shaped by the multi-line policy). */
  text = '';
  done = false;
  /** The id of the completion (trace) that fills it. */
  id = 0;
  private waiters: (() => void)[] = [];

  /** Updates the suggestion; wakes anyone waiting for more. */
  set(text: string, done: boolean): void {
    this.text = text;
    this.done = done;
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }

  /** Resolves at the next update (or at once when done). */
  changed(): Promise<void> {
    return this.done ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

/** A cache hit: the entry and how many of its characters the user has already typed. */
export interface Hit {
  entry: Entry;
  key: string;
  typed: number;
}

/**
 * The key for a context. `prefixChars` is the key's share of the prefix: it must stay within the
 * prefix window less MAX_TYPED_THROUGH, so a window taken a few characters back keys the same.
 */
export function cacheKey(prefix: string, suffix: string, prefixChars = KEY_PREFIX_CHARS): string {
  return `${prefix.slice(-prefixChars)}\u0000${suffix.slice(0, KEY_SUFFIX_CHARS)}`;
}

export class CompletionCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly keyChars: number;
  hits = 0;
  misses = 0;

  /** `prefixWindow`: characters of prefix the caller passes (hasten.context.prefixChars). */
  constructor(max = 256, prefixWindow = KEY_PREFIX_CHARS + MAX_TYPED_THROUGH) {
    this.lru = new LRUCache({ max });
    this.keyChars = Math.max(1, Math.min(KEY_PREFIX_CHARS, prefixWindow - MAX_TYPED_THROUGH));
  }

  key(prefix: string, suffix: string): string {
    return cacheKey(prefix, suffix, this.keyChars);
  }

  get size(): number {
    return this.lru.size;
  }

  get(key: string): Entry | undefined {
    return this.lru.get(key);
  }

  set(key: string, entry: Entry): void {
    this.lru.set(key, entry);
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  /**
   * The entry for this context, or one from a few characters back whose suggestion starts with
   * what was typed since. A hit with nothing left to show (typed all of it) does not count.
   */
  lookup(prefix: string, suffix: string): Hit | undefined {
    const limit = Math.min(MAX_TYPED_THROUGH, prefix.length);
    for (let typed = 0; typed <= limit; typed++) {
      const key = this.key(prefix.slice(0, prefix.length - typed), suffix);
      const entry = this.lru.peek(key);
      if (!entry) continue;
      const tail = prefix.slice(prefix.length - typed);
      if (!entry.text.startsWith(tail)) continue;
      // A finished suggestion typed to its end is used up (an exact hit on an empty one still
      // counts: it says there is nothing to suggest here); an unfinished one may still grow.
      if (typed > 0 && entry.done && entry.text.length === typed) continue;
      this.lru.get(key); // refresh recency
      this.hits++;
      return { entry, key, typed };
    }
    this.misses++;
    return undefined;
  }

  clear(): void {
    this.lru.clear();
  }
}

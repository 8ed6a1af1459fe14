// Prompt lookup where the text repeats, the draft model elsewhere, chosen at each step. A copied
// continuation costs nothing to draft and, after a long match, is accepted more often than the draft
// model's chain; where nothing matches, prompt lookup drafts nothing and the step would be plain
// decoding. Each step takes whichever fits the context at hand, so a completion that moves between
// repeated and new code keeps drafting all along (auto, by contrast, picks one strategy per request).
import { DraftTree } from '../verify/tree';
import { DraftOutcome, DraftRequest, Drafter, DrafterStats } from './types';

export class HybridDrafter implements Drafter {
  private drafts = 0;
  /** Which drafter proposed the last draft, to be told how it went. */
  private last: Drafter | null = null;
  /** Steps each one drafted, for the record. */
  readonly steps = { lookup: 0, model: 0 };

  /**
   * `lookup` (prompt lookup) drafts first, and should be set to draft only after a match it is likely
   * to get right (its `minNgram`); whenever it proposes nothing, `model` (the draft model) drafts.
   */
  constructor(private readonly lookup: Drafter, private readonly model: Drafter) {}

  get name(): string {
    return `${this.lookup.name}+${this.model.name}`;
  }

  /** The drafter of the last draft: what a step's trace names. */
  get stepDrafter(): string {
    return (this.last ?? this.model).name;
  }

  /** Both drafters' counts: drafted and accepted tokens and drafting time, and this drafter's own steps. */
  get stats(): DrafterStats {
    const a = this.lookup.stats;
    const b = this.model.stats;
    return { drafts: this.drafts, drafted: a.drafted + b.drafted, accepted: a.accepted + b.accepted, draftMs: a.draftMs + b.draftMs };
  }

  async begin(prompt: readonly number[], signal?: AbortSignal): Promise<void> {
    await this.lookup.begin(prompt, signal);
    await this.model.begin(prompt, signal);
  }

  async draft(req: DraftRequest): Promise<DraftTree> {
    this.drafts++;
    const copied = await this.lookup.draft(req);
    if (copied.tokens.length > 0) {
      this.last = this.lookup;
      this.steps.lookup++;
      return copied;
    }
    this.last = this.model;
    this.steps.model++;
    return this.model.draft(req);
  }

  /** Only the drafter that drafted adapts its length (the draft model's cache catches up by prefix matching at its next draft). */
  update(outcome: DraftOutcome): void {
    this.last?.update(outcome);
  }

  async dispose(): Promise<void> {
    await this.lookup.dispose();
    await this.model.dispose();
  }
}

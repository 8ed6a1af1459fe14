// A scripted stand-in for the engine: streams a completion one chunk per step, with a delay per
// step, stopping within one step of an abort, and records how many decodes ran at once.
import type { CompletionRequest, CompletionTrace, CompletionUpdate } from '../../../src/engine';

export class FakeEngine {
  active = 0;
  maxActive = 0;
  calls: CompletionRequest[] = [];
  finished = 0;
  aborted = 0;
  stepsRun = 0;

  /** `reply(prefix)` gives the chunks to stream for a request. */
  constructor(private readonly reply: (req: CompletionRequest) => string[], private readonly stepMs = 5) {}

  async *complete(req: CompletionRequest): AsyncGenerator<CompletionUpdate> {
    this.calls.push(req);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    const trace: CompletionTrace = { id: this.calls.length, strategy: req.strategy, model: 'fake', drafter: '', promptTokens: 1, reusedTokens: 0, tokens: 0, output: [], prefillMs: 0, decodeMs: 1, steps: [], stopReason: 'length' };
    try {
      let text = '';
      for (const chunk of this.reply(req)) {
        await new Promise((r) => setTimeout(r, this.stepMs));
        this.stepsRun++;
        if (req.signal?.aborted) {
          this.aborted++;
          const err = new Error('The operation was aborted.');
          err.name = 'AbortError';
          throw err;
        }
        text += chunk;
        trace.tokens++;
        const stop = req.stopText?.(text) ?? false;
        yield { text, delta: chunk, done: false, trace };
        if (stop) {
          trace.stopReason = 'stop';
          break;
        }
      }
      this.finished++;
      yield { text, delta: '', done: true, trace };
    } finally {
      this.active--;
    }
  }

  async reset(): Promise<void> {}
}

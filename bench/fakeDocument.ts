// A TextDocument stand-in with VS Code's offset/position semantics and a version that grows with
// every edit, so the real inline provider can be driven keystroke by keystroke.
import { Position, Range } from './vscode-stub';

export class FakeDocument {
  version = 1;
  private starts: number[] = [0];

  constructor(readonly uri: { toString(): string }, readonly languageId: string, private text: string) {
    this.index();
  }

  private index(): void {
    this.starts = [0];
    for (let i = 0; i < this.text.length; i++) if (this.text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  get lineCount(): number {
    return this.starts.length;
  }

  getText(range?: Range): string {
    return range ? this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end)) : this.text;
  }

  lineAt(line: number): { range: Range } {
    const start = this.starts[line]!;
    const end = line + 1 < this.starts.length ? this.starts[line + 1]! - 1 : this.text.length;
    return { range: new Range(new Position(line, 0), new Position(line, end - start)) };
  }

  offsetAt(p: Position): number {
    const line = Math.min(Math.max(0, p.line), this.starts.length - 1);
    const lineEnd = line + 1 < this.starts.length ? this.starts[line + 1]! - 1 : this.text.length;
    return Math.min(this.starts[line]! + Math.max(0, p.character), lineEnd);
  }

  positionAt(offset: number): Position {
    const o = Math.min(Math.max(0, offset), this.text.length);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return new Position(lo, o - this.starts[lo]!);
  }

  /** Inserts `s` at `offset` (a keystroke) and bumps the version. */
  insert(offset: number, s: string): void {
    this.text = this.text.slice(0, offset) + s + this.text.slice(offset);
    this.version++;
    this.index();
  }
}

/** A CancellationToken a test can cancel, as VS Code cancels a request when the next keystroke comes. */
export class FakeToken {
  isCancellationRequested = false;
  private listeners: (() => void)[] = [];

  onCancellationRequested = (l: () => void) => {
    this.listeners.push(l);
    return { dispose: () => (this.listeners = this.listeners.filter((x) => x !== l)) };
  };

  cancel(): void {
    if (this.isCancellationRequested) return;
    this.isCancellationRequested = true;
    for (const l of this.listeners) l();
  }
}

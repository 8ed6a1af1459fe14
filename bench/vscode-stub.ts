// The few vscode API classes the inline provider constructs, for driving it outside VS Code
// (bench/provider.ts). Everything else the provider needs comes in through its arguments.

export class Position {
  constructor(readonly line: number, readonly character: number) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(start: Position, end: Position) {
    this.start = start;
    this.end = end;
  }
}

export class InlineCompletionItem {
  constructor(readonly insertText: string, readonly range?: Range) {}
}

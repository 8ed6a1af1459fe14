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

/** The workspace as the provider sees it: a path relative to no folder, and no workspace name. */
export const workspace = {
  name: undefined as string | undefined,
  asRelativePath: (uri: { toString(): string }): string => uri.toString().replace(/^[a-z]+:\/+/, ''),
};

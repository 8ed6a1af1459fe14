// A minimal event emitter with VS Code's Event shape (subscribe returns a disposable), so code
// below src/completion stays free of the vscode module and the visualiser can still subscribe.

export interface Disposable {
  dispose(): void;
}

export type Event<T> = (listener: (e: T) => void) => Disposable;

export class Emitter<T> {
  private listeners: ((e: T) => void)[] = [];

  readonly event: Event<T> = (listener) => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };

  /** Calls every listener; one that throws does not stop the others. */
  fire(e: T): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // A listener's failure is its own business.
      }
    }
  }

  dispose(): void {
    this.listeners = [];
  }
}

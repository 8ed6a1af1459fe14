// Notices a loaded model's files changing on disk (rebuilt, deleted, half-written): one call after
// the writes settle, so that the model is reloaded once, when a rebuild has finished.
import fs from 'node:fs';
import path from 'node:path';
import type { Disposable } from './event';

/** Files in these folders (and their onnx/ subfolders) that change call `onChange` once they have been quiet for `quietMs`. */
export function watchModelFolders(dirs: readonly string[], onChange: (dir: string) => void, quietMs: number): Disposable {
  const watchers: fs.FSWatcher[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let changed: string | undefined;
  const fire = (dir: string) => {
    changed = dir;
    clearTimeout(timer);
    timer = setTimeout(() => onChange(changed!), quietMs);
  };
  for (const dir of new Set(dirs)) {
    for (const d of [dir, path.join(dir, 'onnx')]) {
      try {
        const w = fs.watch(d, { persistent: false }, () => fire(dir));
        // A watched folder that is deleted reports an error on some platforms: that is a change too.
        w.on('error', () => fire(dir));
        watchers.push(w);
      } catch {
        // A folder that is not there (no onnx/, or already deleted) has nothing to watch.
      }
    }
  }
  return {
    dispose: () => {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}

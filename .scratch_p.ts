import path from 'node:path';
import { Engine } from '/work/main/src/engine';
(async () => {
const engine = await Engine.load({ modelDir: '/work/main/models/hasten-target', draftDir: null, cmlmDir: null });
const text = Array.from({ length: 100_000 }, (_, i) => `  x${i} = f(x${i - 1});`).join('\n');
const half = text.length >> 1;
const tk = (engine as any).target.folder.tokenizer;
for (let r=0;r<3;r++){
let t=performance.now(); const p=engine.promptFor(text.slice(0, half), text.slice(half), 48); const a=performance.now()-t;
const s=text.slice(half-7800, half); t=performance.now(); const ids=tk.encode(s); const b=performance.now()-t;
t=performance.now(); tk.encode(text.slice(half, half+2048)); const c=performance.now()-t;
console.log(a.toFixed(1), b.toFixed(1), ids.length, c.toFixed(1), p.ids.length);
}
await engine.dispose();
})();

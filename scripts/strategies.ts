// Writes the hasten.strategy enum in package.json from the engine's STRATEGIES, so a strategy that
// lands in the engine appears in the settings UI too. `npm run build`, `npm test` and
// `npm run package` run it first; alone: npm run sync:strategies
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STRATEGIES } from '../src/engine/strategies';

const FILE = join(__dirname, '..', 'package.json');

/** The enum and enumDescriptions the strategy setting should have. */
export function strategyEnum(): { enum: string[]; enumDescriptions: string[] } {
  return { enum: STRATEGIES.map((s) => s.id), enumDescriptions: STRATEGIES.map((s) => `${s.label}: ${s.description}${s.lossless ? '' : ' (lossy)'}`) };
}

if (require.main === module) {
  const before = readFileSync(FILE, 'utf8');
  const pkg = JSON.parse(before);
  Object.assign(pkg.contributes.configuration.properties['hasten.strategy'], strategyEnum());
  const after = `${JSON.stringify(pkg, null, 2)}\n`;
  if (after !== before) {
    writeFileSync(FILE, after);
    console.log(`package.json: hasten.strategy now lists ${strategyEnum().enum.join(', ')}`);
  }
}

// Text formatting shared by the live view and the SVG export. Pure: no DOM.

const WHITESPACE: Readonly<Record<string, string>> = { ' ': '␣', '\n': '⏎', '\t': '⇥', '\r': '␍' };

/** Token text with whitespace made visible (␣ ⏎ ⇥) and other control characters as \xNN; ∅ for an empty token. */
export function visible(text: string): string {
  if (text === '') return '∅';
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    out += WHITESPACE[ch] ?? (code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : ch);
  }
  return out;
}

/** At most `max` characters, with an ellipsis when cut. */
export function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : text;
}

/** A probability as `.93` (two decimals; `1` for near certainty, `<.01` for tiny), or `–` when unknown. */
export function shortProb(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '–';
  if (p >= 0.995) return '1';
  if (p > 0 && p < 0.005) return '<.01';
  return p.toFixed(2).replace(/^0/, '');
}

/** A probability as a percentage with one decimal, or `–`. */
export function percent(p: number | null | undefined): string {
  return p === null || p === undefined || !Number.isFinite(p) ? '–' : `${(100 * p).toFixed(1)}%`;
}

/** Escapes text for XML and HTML content and attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number with a fixed count of decimals; `–` when not finite. */
export function num(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

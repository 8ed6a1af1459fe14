// Text <-> token ids through @huggingface/tokenizers, FIM prompt templates per model family,
// and a streaming decoder that never splits a multi-byte character.
import { Tokenizer } from '@huggingface/tokenizers';
import fs from 'node:fs';
import path from 'node:path';
import { HastenError } from './errors';

export type FimFamily = 'hasten' | 'qwen2.5-coder' | 'starcoder' | 'codellama' | 'deepseek-coder';

/** How a model family spells a fill-in-the-middle prompt, as token ids. */
export interface FimTemplate {
  family: FimFamily;
  prefixId: number;
  suffixId: number;
  middleId: number;
  /** Prefix-suffix-middle (every family here) puts the prefix first. */
  order: 'psm';
  /** The family's repository-context tokens (Qwen2.5-Coder: `<|repo_name|>`, `<|file_sep|>`), which carry other files before the FIM prompt. */
  repo?: { nameId: number; fileSepId: number };
}

interface FamilySpec {
  family: FimFamily;
  tokens: [prefix: string, suffix: string, middle: string];
  /** Other tokens whose presence identifies the family when the FIM tokens are shared. */
  marker?: string;
  /** Repository-context tokens: the repository's name, and the separator before each file's path. */
  repo?: [name: string, fileSep: string];
  stops: string[];
}

/** Added tokens spelled like these are control tokens even when not marked special: `<|fim_prefix|>`, `<file_sep>`, `▁<PRE>`, `<｜fim▁begin｜>`. */
const CONTROL_SPELLING = /^▁?<[^\s<>]+>$/;

// Ordered: the first family whose FIM tokens (and marker) exist wins.
const FAMILIES: FamilySpec[] = [
  { family: 'hasten', tokens: ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'], marker: '<|mask|>', stops: ['<|endoftext|>', '<|fim_pad|>'] },
  { family: 'qwen2.5-coder', tokens: ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'], repo: ['<|repo_name|>', '<|file_sep|>'], stops: ['<|endoftext|>', '<|fim_pad|>', '<|file_sep|>', '<|im_end|>', '<|repo_name|>'] },
  { family: 'starcoder', tokens: ['<fim_prefix>', '<fim_suffix>', '<fim_middle>'], stops: ['<|endoftext|>', '<file_sep>', '<fim_pad>'] },
  { family: 'codellama', tokens: ['▁<PRE>', '▁<SUF>', '▁<MID>'], stops: ['▁<EOT>', '</s>'] },
  { family: 'codellama', tokens: ['<PRE>', '<SUF>', '<MID>'], stops: ['<EOT>', '</s>'] },
  { family: 'deepseek-coder', tokens: ['<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>'], stops: ['<|EOT|>', '<｜end▁of▁sentence｜>'] },
];

/** Tokenizer for one model folder. */
export class TextTokenizer {
  readonly fim: FimTemplate | null;
  /** Ids that end a completion: the config's eos ids, the family's stop tokens and every other control token. */
  readonly stopIds: ReadonlySet<number>;
  readonly vocabSize: number;
  private readonly specials: string[];
  private readonly specialIds: Set<number>;
  private texts: string[] | null = null;
  private readonly healMasks = new Map<string, Uint8Array>();

  private constructor(private readonly tk: Tokenizer, json: TokenizerJson, eosIds: number[]) {
    const ids = Object.values(json.model?.vocab ?? {}) as number[];
    const added = (json.added_tokens ?? []).map((t) => t.id);
    // A loop, not Math.max(...ids): real vocabularies (151k ids) overflow the call stack as arguments.
    let top = -1;
    for (const id of ids) if (id > top) top = id;
    for (const id of added) if (id > top) top = id;
    this.vocabSize = top + 1;
    // Control tokens: the special ones, and added tokens spelled like markup. Qwen2.5's FIM and repository
    // tokens (<|fim_prefix|> … <|file_sep|>) are added with "special": false, yet the tokenizer still matches
    // them in text, so a file that mentions one would inject it, and a generated one would be shown as text.
    const controls = (json.added_tokens ?? []).filter((t) => t.special || CONTROL_SPELLING.test(t.content));
    this.specials = controls.map((t) => t.content).sort((a, b) => b.length - a.length);
    this.specialIds = new Set(controls.map((t) => t.id));
    const spec = FAMILIES.find((f) => f.tokens.every((t) => this.idOf(t) !== undefined) && (!f.marker || this.idOf(f.marker) !== undefined));
    const repo = spec?.repo?.map((t) => this.idOf(t));
    this.fim = spec
      ? {
        family: spec.family, prefixId: this.idOf(spec.tokens[0])!, suffixId: this.idOf(spec.tokens[1])!, middleId: this.idOf(spec.tokens[2])!, order: 'psm',
        ...(repo && repo[0] !== undefined && repo[1] !== undefined ? { repo: { nameId: repo[0], fileSepId: repo[1] } } : {}),
      }
      : null;
    // Every special token ends a completion, not only end-of-text: decoding drops a special token's text, so
    // whatever followed it would be shown as if it went on from the code (issue 18: the bundled model wrote
    // <|fim_suffix|> after a line start, then `s(value, value) {`).
    const stops = new Set([...eosIds, ...this.specialIds]);
    for (const s of spec?.stops ?? []) {
      const id = this.idOf(s);
      if (id !== undefined) stops.add(id);
    }
    this.stopIds = stops;
  }

  /** Loads tokenizer.json and tokenizer_config.json from a model folder. */
  static load(dir: string, eosIds: number[]): TextTokenizer {
    const read = (f: string, required: boolean): unknown => {
      const p = path.join(dir, f);
      if (!fs.existsSync(p)) {
        if (!required) return {};
        throw new HastenError('model-missing', `${p} is missing.`, 'A model folder needs tokenizer.json next to config.json (Hugging Face layout).');
      }
      try {
        return JSON.parse(fs.readFileSync(p, 'utf8'));
      } catch (err) {
        throw new HastenError('model-corrupt', `${p} is not valid JSON (${(err as Error).message}).`, 'Re-export or re-download the model folder.');
      }
    };
    const json = read('tokenizer.json', true) as TokenizerJson;
    const config = read('tokenizer_config.json', false) as Record<string, unknown>;
    // Decoding must never rewrite code (" ." -> "."), whatever the folder says.
    const tk = construct(json, { ...config, clean_up_tokenization_spaces: false }, dir);
    return new TextTokenizer(tk, json, eosIds);
  }

  idOf(token: string): number | undefined {
    return this.tk.token_to_id(token) ?? undefined;
  }

  /**
   * Encodes user text. Special-token strings that appear in the text (a file that mentions
   * `<|endoftext|>`) are encoded as ordinary text, so a document can never inject a control token.
   */
  encode(text: string): number[] {
    if (text.length === 0) return [];
    const out: number[] = [];
    let rest = text;
    while (rest.length > 0) {
      let at = -1;
      let hit = '';
      for (const s of this.specials) {
        const i = rest.indexOf(s);
        if (i !== -1 && (at === -1 || i < at)) {
          at = i;
          hit = s;
        }
      }
      if (at === -1) {
        out.push(...this.tk.encode(rest, { add_special_tokens: false }).ids);
        break;
      }
      if (at > 0) out.push(...this.tk.encode(rest.slice(0, at), { add_special_tokens: false }).ids);
      // Two halves that are not special tokens decode back to exactly the same characters.
      out.push(...this.tk.encode(hit.slice(0, 1), { add_special_tokens: false }).ids, ...this.encode(hit.slice(1)));
      rest = rest.slice(at + hit.length);
    }
    return out;
  }

  /** Decodes ids to text, special tokens dropped. */
  decode(ids: readonly number[]): string {
    return ids.length === 0 ? '' : this.tk.decode([...ids], { skip_special_tokens: true });
  }

  /**
   * Token healing: 1 for every ordinary token whose text starts with `text`, over `vocab` ids.
   * The vocabulary's texts are decoded once; masks are kept per text (a handful of distinct ones).
   */
  healMask(text: string, vocab: number): Uint8Array {
    let mask = this.healMasks.get(text);
    if (mask && mask.length === vocab) return mask;
    if (!this.texts || this.texts.length < vocab) this.texts = Array.from({ length: vocab }, (_, i) => (i < this.vocabSize ? this.tokenText(i) : ''));
    mask = new Uint8Array(vocab);
    for (let i = 0; i < vocab; i++) if (!this.specialIds.has(i) && this.texts[i]!.startsWith(text)) mask[i] = 1;
    if (this.healMasks.size > 256) this.healMasks.clear();
    this.healMasks.set(text, mask);
    return mask;
  }

  /** Decodes one token for display (special tokens kept). */
  tokenText(id: number): string {
    return this.tk.decode([id], { skip_special_tokens: false });
  }
}

interface TokenizerJson {
  model?: { vocab?: Record<string, number> };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

function construct(json: TokenizerJson, config: Record<string, unknown>, dir: string): Tokenizer {
  try {
    return new Tokenizer(json as never, config as never);
  } catch (err) {
    throw new HastenError('model-corrupt', `${path.join(dir, 'tokenizer.json')} could not be loaded (${(err as Error).message}).`,
      'Check that it is a Hugging Face tokenizer.json (byte-level BPE or similar).');
  }
}

/**
 * Streams text from a growing list of ids. It decodes the accumulated ids each time and holds back
 * a trailing U+FFFD, which means a multi-byte character is still incomplete.
 */
export class StreamDecoder {
  private ids: number[] = [];
  private emitted = '';

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** Adds ids; returns the new text that is now final. */
  push(ids: readonly number[]): string {
    this.ids.push(...ids);
    let text = this.tokenizer.decode(this.ids);
    if (text.endsWith('\uFFFD')) text = text.replace(/\uFFFD+$/, '');
    if (!text.startsWith(this.emitted)) return '';
    const delta = text.slice(this.emitted.length);
    this.emitted = text;
    return delta;
  }

  /** Everything decoded so far, including a trailing partial character if the stream ended there. */
  get text(): string {
    return this.tokenizer.decode(this.ids);
  }
}

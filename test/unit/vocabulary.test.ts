// Draft pairing by vocabulary: the bundled models pair; the real Qwen2.5 tokenizer pairs with itself
// whatever the file's formatting, key order or tokenizer_config, and not with the bundled vocabulary;
// a changed id or added token is refused with the token named; Engine.load applies it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeRandomCheckpoint } from '../../bench/checkpoints';
import { build } from '../../src/build/builder';
import { Engine, HastenError } from '../../src/engine';
import { checkSameTokenizer, openModelFolder } from '../../src/engine/model/folder';
import { draftsFor, readVocabulary, sameVocabulary, vocabularyDifference } from '../../src/engine/model/vocabulary';

const ROOT = path.resolve(__dirname, '..', '..');
const TARGET = path.join(ROOT, 'models', 'hasten-target');
const DRAFT = path.join(ROOT, 'models', 'hasten-draft-s');
const QWEN_TOK = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-qwen2_5', 'models');

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hasten-vocab-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A folder holding only a tokenizer.json made from `src`'s by `edit`. */
function tokenizerFolder(name: string, src: string, edit: (tj: Record<string, any>) => void = () => {}, indent?: number): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const tj = JSON.parse(fs.readFileSync(path.join(src, 'tokenizer.json'), 'utf8'));
  edit(tj);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tj, null, indent));
  return dir;
}

/** The same object with its keys in reverse order (what another serialiser might write). */
const reversed = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).reverse());

describe('vocabularies', () => {
  test('the bundled target and drafts share one vocabulary', () => {
    assert.ok(sameVocabulary(TARGET, DRAFT));
    assert.ok(sameVocabulary(TARGET, path.join(ROOT, 'models', 'hasten-draft-m')));
    assert.equal(readVocabulary(TARGET).ids.size, readVocabulary(DRAFT).ids.size);
  });

  test('the Qwen2.5 vocabulary: 151,665 tokens with its FIM tokens at 151659-151664', () => {
    const v = readVocabulary(QWEN_TOK);
    assert.equal(v.ids.size, 151665);
    assert.equal(v.added.get('<|fim_prefix|>'), 151659);
    assert.equal(v.added.get('<|fim_pad|>'), 151662);
  });

  test('the same vocabulary saved differently pairs: indented, keys reordered, merges and normalizer changed', () => {
    const other = tokenizerFolder('qwen-resaved', QWEN_TOK, (tj) => {
      tj.model.vocab = reversed(tj.model.vocab);
      tj.added_tokens.reverse();
      tj.model.merges = tj.model.merges.slice(0, 1000);
      tj.normalizer = null;
    }, 2);
    assert.notEqual(fs.readFileSync(path.join(other, 'tokenizer.json')).length, fs.readFileSync(path.join(QWEN_TOK, 'tokenizer.json')).length);
    assert.ok(sameVocabulary(QWEN_TOK, other));
    assert.equal(readVocabulary(other).digest, readVocabulary(QWEN_TOK).digest);
  });

  test('Qwen2.5 against the bundled vocabulary: refused, saying how', () => {
    const why = vocabularyDifference(readVocabulary(QWEN_TOK), readVocabulary(TARGET));
    assert.ok(why !== null);
    assert.match(why, /the added token "<\|endoftext\|>" is id 151643 in .* but \d+ in /);
  });

  test('one token with another id: refused, naming the token', () => {
    const other = tokenizerFolder('qwen-swapped', QWEN_TOK, (tj) => {
      tj.model.vocab.def = tj.model.vocab.class;
      tj.model.vocab.class = 755;
    });
    const why = vocabularyDifference(readVocabulary(QWEN_TOK), readVocabulary(other));
    assert.match(why ?? '', /the token "(class|def)" is id \d+ in .* but \d+ in /);
  });

  test('an added token missing or moved: refused, naming it', () => {
    const missing = tokenizerFolder('qwen-nofim', QWEN_TOK, (tj) => {
      tj.added_tokens = tj.added_tokens.filter((t: { content: string }) => t.content !== '<|fim_middle|>');
    });
    assert.match(vocabularyDifference(readVocabulary(QWEN_TOK), readVocabulary(missing)) ?? '', /added token "<\|fim_middle\|>" \(id 151660\) is missing/);
    const extra = tokenizerFolder('qwen-extra', QWEN_TOK, (tj) => {
      tj.added_tokens.push({ id: 151665, content: '<|extra|>', special: true });
    });
    assert.match(vocabularyDifference(readVocabulary(QWEN_TOK), readVocabulary(extra)) ?? '', /added token "<\|extra\|>" \(id 151665\)/);
  });

  test('draftsFor offers only the candidates with the target vocabulary, never the target itself', () => {
    const bad = tokenizerFolder('qwen-bad', QWEN_TOK, (tj) => { tj.model.vocab = { a: 0 }; });
    const candidates = [QWEN_TOK, TARGET, path.join(tmp, 'qwen-resaved'), bad, path.join(tmp, 'does-not-exist'), DRAFT];
    assert.deepEqual(draftsFor(QWEN_TOK, candidates), [path.join(tmp, 'qwen-resaved')]);
    assert.deepEqual(draftsFor(TARGET, candidates), [DRAFT]);
  });
});

describe('Engine.load pairs by vocabulary', () => {
  const SHAPE = { family: 'qwen2' as const, hidden: 32, layers: 1, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64, vocab: 151936, tied: true, maxPositions: 128 };
  let qTarget: string;
  let qDraft: string;
  before(async () => {
    const ck = (seed: number) => writeRandomCheckpoint(path.join(tmp, `ck${seed}`), SHAPE, { seed, tokenizerDir: QWEN_TOK });
    qTarget = (await build({ from: ck(1), out: path.join(tmp, 'q-target'), variants: ['standard'] })).out;
    qDraft = (await build({ from: ck(2), out: path.join(tmp, 'q-draft'), variants: ['standard'] })).out;
    // The draft's tokenizer.json re-serialised (as another tool would save it): bytes differ, vocabulary does not.
    const tj = JSON.parse(fs.readFileSync(path.join(qDraft, 'tokenizer.json'), 'utf8'));
    tj.model.vocab = reversed(tj.model.vocab);
    fs.writeFileSync(path.join(qDraft, 'tokenizer.json'), JSON.stringify(tj, null, 1));
  });

  test('two Qwen-tokenizer checkpoints pair although their tokenizer.json bytes differ', async () => {
    checkSameTokenizer(openModelFolder(qTarget), openModelFolder(qDraft));
    const engine = await Engine.load({ modelDir: qTarget, draftDir: qDraft, runtime: { threads: 1 } });
    try {
      assert.ok(engine.draft);
      assert.ok(engine.available().includes('draft-model'));
      // Greedy speculative decoding is lossless: the draft's ids are read in the target's vocabulary.
      const run = async (strategy: 'draft-model' | 'autoregressive') => {
        let text = '';
        let tokens = 0;
        for await (const c of engine.complete({ prefix: 'def add(a, b):\n    return ', suffix: '', strategy, maxNewTokens: 8 })) {
          text = c.text;
          if (c.trace) tokens = c.trace.tokens;
        }
        return { text, tokens };
      };
      const plain = await run('autoregressive');
      assert.ok(plain.tokens > 0);
      assert.deepEqual(await run('draft-model'), plain);
    } finally {
      await engine.dispose();
    }
  });

  test('a bundled draft for a Qwen-tokenizer target is refused with the reason', async () => {
    await assert.rejects(Engine.load({ modelDir: qTarget, draftDir: DRAFT, runtime: { threads: 1 } }), (err: HastenError) =>
      err.code === 'tokenizer-mismatch' && /different vocabulary from the target .*: the added token/.test(err.message) && err.fix.includes('hasten.draftModel'));
  });
});

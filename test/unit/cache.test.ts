import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompletionCache, Entry, MAX_TYPED_THROUGH } from '../../src/completion/cache';

function done(text: string): Entry {
  const e = new Entry();
  e.set(text, true);
  return e;
}

test('exact context hit, and a miss elsewhere', () => {
  const c = new CompletionCache();
  c.set(c.key('const x = ', ';\n'), done('42'));
  assert.equal(c.lookup('const x = ', ';\n')?.entry.text, '42');
  assert.equal(c.lookup('const y = ', ';\n'), undefined);
  assert.equal(c.lookup('const x = ', '\n'), undefined, 'the suffix is part of the key');
});

test('typing characters that match the suggestion serves the rest from the same entry', () => {
  const c = new CompletionCache();
  c.set(c.key('return ', ''), done('total / count;'));
  const hit = c.lookup('return tot', '');
  assert.equal(hit?.typed, 3);
  assert.equal(hit?.entry.text.slice(hit.typed), 'al / count;');
  assert.equal(c.lookup('return tox', ''), undefined, 'a character that does not match misses');
});

test('a finished suggestion typed to its end is used up; an empty one is still an exact hit', () => {
  const c = new CompletionCache();
  c.set(c.key('a', ''), done('bc'));
  assert.equal(c.lookup('abc', ''), undefined);
  c.set(c.key('z', ''), done(''));
  assert.equal(c.lookup('z', '')?.entry.text, '');
});

test('typed-through lookups reach MAX_TYPED_THROUGH characters back and no further', () => {
  const c = new CompletionCache();
  const long = 'x'.repeat(MAX_TYPED_THROUGH + 10);
  c.set(c.key('p', ''), done(long));
  assert.ok(c.lookup(`p${'x'.repeat(MAX_TYPED_THROUGH)}`, ''));
  assert.equal(c.lookup(`p${'x'.repeat(MAX_TYPED_THROUGH + 1)}`, ''), undefined);
});

test('keys use the end of the prefix window, so a window taken a few characters later keys the same', () => {
  const window = 300;
  const c = new CompletionCache(16, window);
  const doc = 'y'.repeat(1000) + 'let s = ';
  const before = doc.slice(doc.length - window, doc.length);
  c.set(c.key(before, ''), done('"abc";'));
  const typed = `${doc}"ab`;
  assert.equal(c.lookup(typed.slice(typed.length - window), '')?.typed, 3);
});

test('the LRU evicts the least recently used entry', () => {
  const c = new CompletionCache(2);
  c.set(c.key('a', ''), done('1'));
  c.set(c.key('b', ''), done('2'));
  c.lookup('a', '');
  c.set(c.key('c', ''), done('3'));
  assert.ok(c.lookup('a', ''));
  assert.equal(c.lookup('b', ''), undefined);
});

test('an unfinished entry wakes its readers when it grows', async () => {
  const e = new Entry();
  const woke = e.changed();
  e.set('partial', false);
  await woke;
  assert.equal(e.text, 'partial');
  e.set('partial done', true);
  await e.changed(); // resolves at once when done
});

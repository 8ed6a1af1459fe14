// The multi-line policy and stop conditions, on hand-written cursor contexts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowsMultiline, bracketDelta, dropSuffixRepeat, shape, shouldStop, type CursorContext } from '../../src/completion/policy';

const at = (linePrefix: string, o: Partial<CursorContext> = {}): CursorContext => ({ linePrefix, lineSuffix: '', nextLines: [], mode: 'auto', maxLines: 8, ...o });

test('auto allows several lines at a blank line or after a block opener, one line mid-statement', () => {
  assert.equal(allowsMultiline(at('    ')), true);
  assert.equal(allowsMultiline(at('function f() {')), true);
  assert.equal(allowsMultiline(at('def f(x):')), true);
  assert.equal(allowsMultiline(at('const x = foo')), false);
  assert.equal(allowsMultiline(at('foo(', { lineSuffix: ')' })), true);
  assert.equal(allowsMultiline(at('    ', { lineSuffix: 'bar()' })), false);
  assert.equal(allowsMultiline(at('const x = foo', { mode: 'always' })), true);
  assert.equal(allowsMultiline(at('    ', { mode: 'never' })), false);
});

test('single line: stops at the end of the first line', () => {
  const c = at('const total = ');
  assert.equal(shape('a + b;\nconsole.log(total);', c, true), 'a + b;');
  assert.equal(shouldStop('a + b', c), false);
  assert.equal(shouldStop('a + b;\n', c), true);
});

test('single line: a completion that starts a new line after code shows nothing', () => {
  assert.equal(shape('\n  return 1;', at('const x = 1;', { mode: 'never' }), true), '');
});

test('dedent below the cursor block ends a multi-line completion', () => {
  const c = at('    ');
  const text = 'total += v\n    count += 1\nreturn total\n';
  assert.equal(shape(text, c, true), 'total += v\n    count += 1');
  assert.equal(shouldStop('total += v\n    count += 1\n', c), false);
  assert.equal(shouldStop(text, c), true);
});

test('after a block opener, a line back at the opener level that is not a closer ends the block (Python)', () => {
  const c = at('def mean(xs):');
  assert.equal(shape('\n    return sum(xs) / len(xs)\n\ndef median(xs):\n    pass', c, true), '\n    return sum(xs) / len(xs)');
});

test('balanced brackets: the line that closes the block opened before the cursor is the last', () => {
  const c = at('function f() {');
  assert.equal(shape('\n  return 1;\n}\n\nfunction g() {\n', c, true), '\n  return 1;\n}');
});

test('a closing line that repeats the code after the cursor is dropped', () => {
  const c = at('function f() {', { nextLines: ['}', ''] });
  assert.equal(shape('\n  return 1;\n}\n', c, true), '\n  return 1;');
});

test('brackets the completion opens itself do not end it, nor does a repeat inside them', () => {
  const c = at('  ', { nextLines: ['}'] });
  const text = 'if (x) {\n    y();\n  }\n  z();\n}\n';
  assert.equal(shape(text, c, true), 'if (x) {\n    y();\n  }\n  z();');
});

test('maxLines caps a multi-line completion', () => {
  const c = at('', { maxLines: 3 });
  assert.equal(shape('a\nb\nc\nd\ne\n', c, true), 'a\nb\nc');
});

test('while decoding, only complete lines are shown', () => {
  const c = at('');
  assert.equal(shape('first line\nsecond li', c, false), 'first line');
  assert.equal(shape('first li', c, false), '');
  assert.equal(shape('first li', c, true), 'first li');
});

test('whitespace-only completions show nothing', () => {
  assert.equal(shape('\n\n\n   \n', at(''), true), '');
  assert.equal(shape('   ', at('x = '), true), '');
});

test('text repeating the rest of the line (an auto-closed bracket) is dropped', () => {
  assert.equal(dropSuffixRepeat('a, b)', ')'), 'a, b');
  assert.equal(dropSuffixRepeat('a, b', ')'), 'a, b');
  assert.equal(shape('"hi")\n', at('print(', { lineSuffix: ')' }), true), '"hi"');
});

test('a first line repeating the next line of the file is dropped', () => {
  assert.equal(shape('return a;\n', at('  ', { nextLines: ['  return a;'] }), true), '');
});

test('bracket counting skips string contents', () => {
  assert.deepEqual(bracketDelta('f("(", [1, 2]'), { depth: 1, min: 0 });
  assert.deepEqual(bracketDelta(')'), { depth: -1, min: -1 });
});

// Transcripts from issue 18: what the bundled model decoded at these cursors before hygiene.
test('a repeated line ends the completion: six repeated """ lines show as one', () => {
  const c = at('    ', { nextLines: [''] });
  const text = '"""Return a string of the file is a string of the\n    """\n    """\n    """\n    """\n    """\n    """\n    ';
  assert.equal(shape(text, c, true), '"""Return a string of the file is a string of the\n    """');
  // The engine is told to stop as soon as the second copy is a complete line.
  assert.equal(shouldStop('"""Return a string\n    """\n', c), false);
  assert.equal(shouldStop('"""Return a string\n    """\n    """\n', c), true);
});

test('nested copies of one line (indentation ignored) end the completion: five `return (0, a) => {` lines show as one', () => {
  const c = at('  ', { nextLines: ['}'] });
  const text = 'return (0, a) => {\n    return (0, a) => {\n      return (0, a) => {\n        return (0, a) => {\n          return (0, a) => {\n';
  assert.equal(shape(text, c, true), 'return (0, a) => {');
  assert.equal(shouldStop('return (0, a) => {\n    return (0, a) => {\n', c), true);
});

test('nested `return … {` lines that differ only in their arguments end at the third (two can be currying)', () => {
  // From the e2e screenshot after issue 18's fixes: the TypeScript completion accepted at a line start.
  const c = at('  ', { nextLines: ['}'], maxLines: 20 });
  const text = 'if (a, a) {\n    return function (a) {\n      return (a, a) {\n        return (a, b) => {\n          return a;\n';
  assert.equal(shape(text, c, true), 'if (a, a) {\n    return function (a) {\n      return (a, a) {');
  const curried = 'return function (a) {\n    return function (b) {\n      return a + b;\n    };\n  };';
  assert.equal(shape(curried, c, true), curried);
  // Not nested deeper: separate returns in separate branches are code, not a loop.
  const branches = 'if (a) {\n    return (x) => {\n      go(x);\n    };\n  }\n  return (y) => {';
  assert.equal(shape(branches, at('  ', { maxLines: 20, mode: 'always' }), true), branches);
});

test('a short cycle of lines ends at its first repeat; closers and distinct lines do not', () => {
  const c = at('    ', { maxLines: 20 });
  assert.equal(shape('a = f(x)\n    b = g(a)\n    a = f(x)\n    b = g(a)\n    a = f(x)\n', c, true), 'a = f(x)\n    b = g(a)');
  const nested = at('  ', { maxLines: 20 });
  const closers = 'if (a) {\n    if (b) {\n      go();\n    }\n  }\n  done();';
  assert.equal(shape(closers, nested, true), closers);
  const tags = '<div>\n    <p>hi</p>\n    </div>\n  </div>\n  <br/>';
  assert.equal(shape(tags, at('  ', { maxLines: 20, mode: 'always' }), true), tags);
});

test('a phrase looping within a line is cut after its first occurrence, also while decoding', () => {
  const c = at('        ');
  assert.equal(shape('self._self._self._self._self._self.', c, true), 'self._');
  assert.equal(shouldStop('self._self._self._se', c), true);
  // Data and short runs are not loops.
  assert.equal(shape('[0, 0, 0, 0, 0, 0, 0, 0]', at('x = '), true), '[0, 0, 0, 0, 0, 0, 0, 0]');
  assert.equal(shape("'aaa' + 'bb'", at('x = '), true), "'aaa' + 'bb'");
});

test('a bracket closing the one the cursor sits in is dropped when the rest of the line already closes it', () => {
  assert.equal(shape('a, b); more()', at('foo(', { lineSuffix: ')' }), true), 'a, b');
  assert.equal(shape('bar(1), 2)', at('foo(', { lineSuffix: ')' }), true), 'bar(1), 2');
});

test('a special token spelled out in the text, or nothing but one, shows nothing after it', () => {
  assert.equal(shape('<|endoftext|>', at('    '), true), '');
  assert.equal(shape('\n<|endoftext|>', at('x = 1'), true), '');
  assert.equal(shape('return 1<|fim_pad|>junk', at('    '), true), 'return 1');
  assert.equal(shape('x</s>', at('y = '), true), 'x');
  assert.equal(shouldStop('return 1<|file_sep|>', at('    ')), true);
});

test('a block closed by indentation ends the completion (Python, multi-line auto)', () => {
  const c = at('        ', { nextLines: ['', 'def other():'] });
  const text = 'total += v\n        count += 1\n    return total / count\n\ndef median(xs):\n';
  assert.equal(shape(text, c, true), 'total += v\n        count += 1');
});

test('a suggestion never adds blanks to the indentation or trailing space already typed', () => {
  assert.equal(shape('   return a + b;\n', at('  ', { nextLines: ['}'] }), true), 'return a + b;');
  assert.equal(shape('\t\tx = 1', at('\t'), true), 'x = 1');
  assert.equal(shape('  a + b', at('total = '), true), 'a + b');
  // Where nothing blank was typed, the model's indentation stands.
  assert.equal(shape('    return 1', at(''), true), '    return 1');
});

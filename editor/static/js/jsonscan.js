// A position-tracking JSON scanner: where each value sits in the text (for selection
// highlighting) and, for broken JSON, the line and column of the first error.

import { escape } from './pointer.js';

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

class ScanError extends Error {
  constructor(pos, message) {
    super(message);
    this.pos = pos;
  }
}

export function lineCol(text, pos) {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return { line, col: pos - before.lastIndexOf('\n') };
}

/**
 * Scan `text`: `{value, nodes}` where nodes maps each JSON pointer to `{start, end}`
 * (an object member's span starts at its key), or `{error: {pos, line, col, message}, nodes}`.
 */
export function scan(text) {
  const nodes = new Map();
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = (message) => { throw new ScanError(i, message); };
  const describe = () => (i >= text.length ? 'end of input' : `'${text[i]}'`);

  function string() {
    const start = i;
    if (text[i] !== '"') fail(`expected a string, found ${describe()}`);
    i++;
    while (i < text.length) {
      const c = text[i];
      if (c === '\\') { i += 2; continue; }
      if (c === '"') {
        i++;
        try { return JSON.parse(text.slice(start, i)); } catch { i = start; fail('bad escape in string'); }
      }
      if (c < ' ') fail('control character in a string (use \\n)');
      i++;
    }
    i = start;
    return fail('unterminated string');
  }

  function value(ptr, keyStart) {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++; ws();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          ws();
          const ks = i;
          const key = string();
          ws();
          if (text[i] !== ':') fail(`expected ':', found ${describe()}`);
          i++;
          value(ptr + '/' + escape(key), ks);
          ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === '}') { i++; break; }
          fail(`expected ',' or '}', found ${describe()}`);
        }
      }
    } else if (c === '[') {
      i++; ws();
      if (text[i] === ']') i++;
      else {
        for (let n = 0; ; n++) {
          value(ptr + '/' + n);
          ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === ']') { i++; break; }
          fail(`expected ',' or ']', found ${describe()}`);
        }
      }
    } else if (c === '"') {
      string();
    } else {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) fail(`unexpected ${describe()}`);
      i += m[0].length;
    }
    nodes.set(ptr, { start: keyStart ?? start, end: i });
  }

  try {
    value('');
    ws();
    if (i < text.length) fail('unexpected text after the JSON value');
  } catch (err) {
    if (!(err instanceof ScanError)) throw err;
    return { error: { pos: err.pos, message: err.message, ...lineCol(text, err.pos) }, nodes };
  }
  return { value: JSON.parse(text), nodes };
}

/** The pointer of the innermost value whose span holds `pos`. */
export function pointerAt(nodes, pos) {
  let best = null;
  let size = Infinity;
  for (const [ptr, { start, end }] of nodes) {
    if (start <= pos && pos <= end && end - start < size) {
      best = ptr;
      size = end - start;
    }
  }
  return best;
}

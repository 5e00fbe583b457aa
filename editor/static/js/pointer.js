// RFC 6901 JSON pointers: the one way every view names a place in the card.

export const escape = (part) => String(part).replace(/~/g, '~0').replace(/\//g, '~1');
export const unescape = (part) => part.replace(/~1/g, '/').replace(/~0/g, '~');

export function parts(ptr) {
  return ptr ? ptr.split('/').slice(1).map(unescape) : [];
}

export function join(base, ...more) {
  return base + more.map((p) => '/' + escape(p)).join('');
}

export function get(obj, ptr) {
  let node = obj;
  for (const part of parts(ptr)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = node[part];
  }
  return node;
}

/** Set the value at `ptr`, making objects on the way; `undefined` deletes the key. */
export function set(obj, ptr, value) {
  const path = parts(ptr);
  const last = path.pop();
  let node = obj;
  for (const part of path) {
    if (node[part] === null || typeof node[part] !== 'object') {
      if (value === undefined) return;
      node[part] = {};
    }
    node = node[part];
  }
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else {
    node[last] = value;
  }
}

/** `ptr` is `base` or inside it. */
export function within(ptr, base) {
  return ptr === base || ptr.startsWith(base + '/');
}

export function parent(ptr) {
  return ptr.slice(0, ptr.lastIndexOf('/'));
}

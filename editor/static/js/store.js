// The one state store: the template document (card + sample + traffic type) and the
// selection. Views subscribe; every edit is a command so undo/redo spans all views.

const clone = (v) => (v === undefined ? v : structuredClone(v));
const MAX_UNDO = 200; // the issue asks for at least 50
const COALESCE_MS = 2000;

export class Store {
  constructor() {
    this.doc = null;
    this.selection = '';
    this.undoStack = [];
    this.redoStack = [];
    this.listeners = new Set();
    this.rev = 0;
    this.savedRev = 0;
    this.lastKey = null;
    this.lastAt = 0;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(change) {
    for (const fn of this.listeners) fn(change);
  }

  get dirty() {
    return this.rev !== this.savedRev;
  }

  /** Replace the document (opening a template): history starts afresh. */
  load(doc) {
    this.doc = clone(doc);
    this.undoStack = [];
    this.redoStack = [];
    this.selection = '';
    this.rev += 1;
    this.savedRev = this.rev;
    this.lastKey = null;
    this.emit({ type: 'load' });
  }

  /**
   * Apply `mutate(draft)` as one command. Consecutive edits with the same `coalesce` key
   * (typing in one field) within a short pause become a single undo step.
   */
  apply(mutate, { source = null, coalesce = null } = {}) {
    if (!this.doc) return;
    const before = this.doc;
    const next = clone(before);
    mutate(next);
    if (JSON.stringify(next) === JSON.stringify(before)) return;
    const now = Date.now();
    const merge = coalesce && coalesce === this.lastKey && now - this.lastAt < COALESCE_MS && this.undoStack.length;
    if (!merge) {
      this.undoStack.push(before);
      if (this.undoStack.length > MAX_UNDO) this.undoStack.shift();
    }
    this.lastKey = coalesce;
    this.lastAt = now;
    this.redoStack = [];
    this.doc = next;
    this.rev += 1;
    this.emit({ type: 'edit', source });
  }

  /** The next edit starts a new undo step (a field lost focus). */
  breakCoalescing() {
    this.lastKey = null;
  }

  undo() {
    if (!this.undoStack.length) return false;
    this.redoStack.push(this.doc);
    this.doc = this.undoStack.pop();
    this.lastKey = null;
    this.rev += 1;
    this.emit({ type: 'undo' });
    return true;
  }

  redo() {
    if (!this.redoStack.length) return false;
    this.undoStack.push(this.doc);
    this.doc = this.redoStack.pop();
    this.lastKey = null;
    this.rev += 1;
    this.emit({ type: 'redo' });
    return true;
  }

  select(ptr, source = null) {
    // Re-selecting the same element from the Checks list (or the outline, or the JSON) is a
    // request to reveal it again: only the visual editor's own focus changes are no-ops.
    if (ptr === this.selection && (source === 'visual' || source === null)) return;
    this.selection = ptr;
    this.emit({ type: 'select', source });
  }

  markSaved(rev) {
    this.savedRev = rev;
    this.emit({ type: 'saved' });
  }
}

export const store = new Store();

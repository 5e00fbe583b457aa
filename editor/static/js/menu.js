// The persistent-menu designer: top entries and submenus of the document's `menu`, each entry a
// suggestion of any kind (drawn by the visual editor's suggestion form), within the operator
// profile's limits; and the phone's menu bar as the chatbot's conversation shows it.

import { h, icon } from './dom.js';
import { t } from './i18n.js';
import { get } from './pointer.js';
import { LIMITS, MENU_LIMITS, blankMenu, isSubmenu, kindOf, makeSuggestion } from './cardmodel.js';

const LIST = '/menu/entries';

/** The designer's section for `card.menu` (the editor: a VisualEditor). */
export function renderMenu(editor, card, profile, removable) {
  const limits = MENU_LIMITS[profile] || MENU_LIMITS.cn_csp;
  const entries = Array.isArray(card.menu?.entries) ? card.menu.entries : [];
  const items = entries.map((entry, i) => (isSubmenu(entry)
    ? renderSubmenu(editor, entry.menu, i, entries.length, limits)
    : editor.renderSuggestion(LIST, entry, i, entries.length, `menu-${i}`)));
  const full = entries.length >= limits.top;
  return h('section', { class: 'card-editor menu-editor', 'data-path': '/menu', 'data-testid': 'menu-editor' },
    h('div', { class: 'item-head' },
      h('h3', {}, t('menu.title'), ' ', h('span', { class: 'muted', 'data-testid': 'menu-count' }, `${entries.length}/${limits.top}`)),
      removable ? h('button', { type: 'button', class: 'small danger', 'data-action': 'remove-menu', 'data-testid': 'remove-menu',
        onclick: () => editor.edit((c) => { delete c.menu; }) }, icon('remove'), t('menu.remove')) : null),
    h('p', { class: 'muted small-text' }, t('menu.hint', { top: limits.top, sub: limits.sub, levels: limits.levels })),
    items,
    h('div', { class: 'menu-adds' },
      h('button', { type: 'button', class: 'add', 'data-testid': 'menu-add-entry', 'data-action': 'menu-add-entry', disabled: full,
        onclick: () => editor.addSuggestion(LIST) }, icon('add'), t('menu.add_entry')),
      h('button', { type: 'button', class: 'add', 'data-testid': 'menu-add-submenu', 'data-action': 'menu-add-submenu',
        disabled: full || limits.levels < 2, onclick: () => addSubmenu(editor, entries.length) }, icon('add'), t('menu.add_submenu'))));
}

function renderSubmenu(editor, submenu, i, count, limits) {
  const path = `${LIST}/${i}`;
  const list = `${path}/menu/entries`;
  const children = Array.isArray(submenu.entries) ? submenu.entries : [];
  const fs = h('fieldset', { class: 'suggestion-editor submenu-editor', 'data-path': path, 'data-testid': `menu-${i}`, tabindex: '-1' },
    h('legend', {}, t('menu.submenu_n', { n: i + 1 })),
    h('div', { class: 'item-head' },
      h('span', { class: 'muted small-text' }, `${children.length}/${limits.sub}`),
      editor.moveButtons(path, i, count, 'button', () => editor.moveItem(LIST, i, -1), () => editor.moveItem(LIST, i, 1),
        () => editor.edit((c) => c.menu.entries.splice(i, 1)), false)),
    editor.text(t('menu.submenu_text'), `${path}/menu/displayText`, LIMITS.displayText, { testid: `menu-${i}-text` }),
    h('div', { class: 'submenu-entries' },
      children.map((child, j) => editor.renderSuggestion(list, child, j, children.length, `menu-${i}-${j}`)),
      h('button', { type: 'button', class: 'add', 'data-testid': `menu-${i}-add-entry`, 'data-action': `${list}/add`,
        disabled: children.length >= limits.sub, onclick: () => editor.addSuggestion(list) }, icon('add'), t('menu.add_entry'))));
  return fs;
}

function addSubmenu(editor, n) {
  editor.edit((c) => {
    if (!Array.isArray(c.menu?.entries)) c.menu = { ...(c.menu || {}), entries: [] };
    c.menu.entries.push({ menu: { displayText: t('menu.new_submenu'), entries: [makeSuggestion('reply', null, editor.defaults())] } });
  });
  editor.store.select(`${LIST}/${n}`, 'visual');
  editor.focusSoon(`${LIST}/${n}/menu/displayText`);
}

/** A fresh menu for a card that has none. */
export function addMenu(editor) {
  editor.edit((c) => { c.menu = blankMenu(t('menu.first_entry')).menu; });
  editor.store.select('/menu', 'visual');
}

// --- the phone's menu bar -----------------------------------------------------------------

const GLYPHS = { reply: '↩', url: '↗', dial: '☎', location: '⌖', location_push: '⌖', calendar: '▦', compose: '✉' };

function label(entry) {
  if (isSubmenu(entry)) return entry.menu.displayText || '';
  return (entry?.reply || entry?.action)?.displayText || '';
}

/** The conversation's bottom bar: top entries side by side; a submenu opens its list above. */
export class MenuBar {
  constructor(root) {
    this.root = root;
    this.open = null; // the index of the open submenu
  }

  draw(menu) {
    const entries = Array.isArray(menu?.entries) ? menu.entries : [];
    if (this.open !== null && !isSubmenu(entries[this.open])) this.open = null;
    const popup = this.open !== null ? entries[this.open].menu : null;
    const kids = Array.isArray(popup?.entries) ? popup.entries : [];
    this.root.replaceChildren(
      h('div', { class: 'menubar-screen', 'aria-hidden': 'true' }, h('span', {}, t('menu.preview_chat'))),
      popup ? h('ul', { class: 'menubar-popup', 'data-testid': 'menubar-popup' },
        kids.map((k) => h('li', {}, h('span', { class: 'glyph' }, GLYPHS[kindOf(k)]), label(k)))) : '',
      h('div', { class: 'menubar', role: 'list', 'data-testid': 'menubar' },
        h('span', { class: 'menubar-keys', 'aria-hidden': 'true' }, '⌨'),
        entries.map((e, i) => h('button', {
          type: 'button', role: 'listitem', class: `menubar-item${this.open === i ? ' open' : ''}`, 'data-testid': `menubar-${i}`,
          'aria-expanded': isSubmenu(e) ? String(this.open === i) : null,
          onclick: () => { if (isSubmenu(e)) { this.open = this.open === i ? null : i; this.draw(menu); } },
        }, isSubmenu(e) ? h('span', { class: 'glyph' }, '≡') : null, label(e) || '—'))));
    if (!entries.length) this.root.querySelector('.menubar').append(h('span', { class: 'muted small-text' }, t('menu.preview_empty')));
  }
}

export const menuOf = (card) => get(card, '/menu');

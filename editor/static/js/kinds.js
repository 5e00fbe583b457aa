// The visual forms of the message kinds besides cards: a plain text, a file from the tenant's
// media library (picked, or uploaded there), a location with its datum. Each is drawn by the
// visual editor (`editor`: a VisualEditor) with its field helpers, so edits, errors and the
// selection work as they do for cards.

import { h, icon } from './dom.js';
import { t } from './i18n.js';
import { DATUMS, FILE, FILE_NAME_MAX, LIMITS, LOCATION, TEXT, TEXT_MAX, fileFromMedia } from './cardmodel.js';

const LIBRARY_PAGE = 24;

export function renderText(editor) {
  return h('section', { class: 'card-editor', 'data-path': '/message', 'data-testid': 'text-message' },
    h('div', { class: 'item-head' }, h('h3', {}, t('visual.text_message'))),
    editor.text(t('visual.text_body'), TEXT, TEXT_MAX, { multiline: true, rows: 6, testid: 'text-body' }),
    h('p', { class: 'muted small-text' }, t('visual.text_hint')));
}

/** A file message: the chosen media (with its name), the library to pick from, and an upload. */
export function renderFile(editor, file) {
  const f = file && typeof file === 'object' ? file : {};
  const { drop, status } = editor.uploadZone(FILE, 'file-upload', (m, old, upload) => fileFromMedia(m, old.fileName || upload.name));
  const children = [h('div', { class: 'item-head' }, h('h3', {}, t('visual.file_message')))];
  if (f.mediaUrl) {
    const shown = ourImage(f);
    children.push(h('div', { class: 'file-summary', 'data-testid': 'file-summary' },
      shown ? h('img', { class: 'media-thumb', src: shown, alt: f.fileName || '' }) : null,
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, t('visual.media_type')), h('dd', { 'data-testid': 'file-type' }, String(f.mediaContentType ?? '—'))),
        h('div', {}, h('dt', {}, t('visual.file_size')), h('dd', { 'data-testid': 'file-size' }, sizeText(f.mediaFileSize))))),
    editor.text(t('visual.file_name'), `${FILE}/fileName`, FILE_NAME_MAX, { optional: true, testid: 'file-name' }));
  } else {
    children.push(h('p', { class: 'muted', 'data-testid': 'file-none' }, t('visual.file_none')));
  }
  children.push(renderLibrary(editor, f), drop, status);
  return h('section', { class: 'card-editor file-editor', 'data-path': FILE, 'data-testid': 'file-message' }, children);
}

function renderLibrary(editor, f) {
  const lib = editor.library;
  const toggle = h('button', {
    type: 'button', class: 'small', 'data-action': 'file-library', 'data-testid': 'file-library-toggle', 'aria-expanded': String(lib.open),
    onclick: () => {
      lib.open = !lib.open;
      if (lib.open && !lib.items.length) loadLibrary(editor, null);
      else editor.render();
    },
  }, t(lib.open ? 'visual.library_close' : 'visual.library_open'));
  if (!lib.open) return h('div', { class: 'library' }, toggle);
  const items = lib.items.map((m) => {
    const chosen = m.url === f.mediaUrl;
    // a clip's thumbnail is its poster (a frame, or a drawn waveform)
    const shown = ourImage({ mediaUrl: m.url, thumbnailUrl: m.thumbnail_url, mediaContentType: m.thumbnail_content_type });
    const shape = m.width ? `${m.width}×${m.height}` : `${Math.round((m.duration_ms || 0) / 1000)} s`;
    const facts = `${shape} · ${m.content_type.replace('image/', '')} · ${sizeText(m.file_size)}`;
    return h('li', {}, h('button', {
      type: 'button', class: `library-item${chosen ? ' chosen' : ''}`, 'aria-pressed': String(chosen),
      'data-action': `file-library-${m.id}`, 'data-testid': 'library-item', title: facts,
      'aria-label': t('visual.library_use', { facts }),
      onclick: () => {
        lib.open = false;
        editor.edit((c) => { c.message.file = fileFromMedia(m, c.message.file?.fileName); });
        editor.store.select(FILE, 'visual');
      },
    }, shown ? h('img', { src: shown, alt: '', loading: 'lazy' }) : h('span', { class: 'library-blank' }, '▤'),
    h('span', { class: 'small-text' }, facts)));
  });
  let note = null;
  if (lib.loading) note = h('p', { class: 'muted small-text' }, t('visual.library_loading'));
  else if (lib.error) note = h('p', { class: 'error-text' }, lib.error);
  else if (!lib.items.length) note = h('p', { class: 'muted small-text', 'data-testid': 'library-empty' }, t('visual.library_empty'));
  return h('div', { class: 'library open' }, toggle,
    h('ul', { class: 'library-grid', 'data-testid': 'file-library', 'aria-label': t('visual.library') }, items),
    note,
    lib.cursor ? h('button', { type: 'button', class: 'small', 'data-action': 'file-library-more', 'data-testid': 'library-more',
      onclick: () => loadLibrary(editor, lib.cursor) }, icon('down'), t('visual.library_more')) : null);
}

async function loadLibrary(editor, cursor) {
  const lib = editor.library;
  lib.loading = true;
  lib.error = '';
  editor.render();
  try {
    const page = await editor.mediaLibrary(cursor, LIBRARY_PAGE);
    const known = new Set(lib.items.map((m) => m.id));
    lib.items = [...lib.items, ...page.data.filter((m) => !known.has(m.id))];
    lib.cursor = page.next_cursor;
  } catch (err) {
    lib.error = t('visual.library_failed', { reason: err.describe ? err.describe() : err.message });
  } finally {
    lib.loading = false;
    editor.render();
  }
}

/** A location message: coordinates, label and datum; the checks mark a wrong field under it. */
export function renderLocation(editor) {
  return h('section', { class: 'card-editor', 'data-path': LOCATION, 'data-testid': 'location-message' },
    h('div', { class: 'item-head' }, h('h3', {}, t('visual.location_message'))),
    h('div', { class: 'grid2' },
      editor.number(t('sg.latitude'), `${LOCATION}/latitude`, { min: -90, max: 90, step: 'any', testid: 'location-lat' }),
      editor.number(t('sg.longitude'), `${LOCATION}/longitude`, { min: -180, max: 180, step: 'any', testid: 'location-lng' })),
    editor.text(t('sg.label'), `${LOCATION}/label`, LIMITS.label, { optional: true, testid: 'location-label' }),
    editor.select(t('visual.datum'), `${LOCATION}/crs`, DATUMS, 'datum', true, 'location-datum'),
    h('p', { class: 'muted small-text' }, t('visual.datum_hint')));
}

/** The image to show for media we host (same origin); remote URLs are never fetched by the editor. */
export function ourImage(media) {
  return [media.thumbnailUrl, media.mediaUrl].find((u) => typeof u === 'string'
    && u.startsWith(`${location.origin}/media/`) && (media.mediaContentType || '').startsWith('image/'));
}

function sizeText(bytes) {
  if (typeof bytes !== 'number') return '—';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

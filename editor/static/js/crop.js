// The crop dialog: a frame at the card's media aspect ratio over a library image, moved by
// dragging (or the arrow keys), resized by its corner (or + and −), a focal point set by a click,
// and the safe area every phone shows. Applying asks the server for a real cropped image
// (POST /v1/media/{id}/crop), a new library item; the original stays.

import { h } from './dom.js';
import { t } from './i18n.js';
import { api } from './api.js';

// dp, as the renderers draw the media area (cards/media/frames.py says where they come from).
const HEIGHTS_DP = { SHORT_HEIGHT: 112, MEDIUM_HEIGHT: 168, TALL_HEIGHT: 264 };
const WIDTHS_DP = { VERTICAL: 320, HORIZONTAL: 128, SMALL_WIDTH: 180, MEDIUM_WIDTH: 232 };
// Narrow handsets draw a standalone card ~272 dp wide at the same media height: they keep the
// middle 85 % of the frame's width.
export const SAFE_WIDTH = 272 / 320;
const MIN_SIDE = 48; // px of the image: keeps whole-pixel rounding well inside the server's 2 %

/** The width/height ratio of the media area for `frame` ({height, cardOrientation?, cardWidth?}). */
export function frameAspect(frame) {
  const width = WIDTHS_DP[frame.cardWidth] || WIDTHS_DP[frame.cardOrientation] || WIDTHS_DP.VERTICAL;
  return width / (HEIGHTS_DP[frame.height] || HEIGHTS_DP.MEDIUM_HEIGHT);
}

/** The media id of one of our own /media/{id} URLs, else null. */
export function mediaIdOf(url) {
  if (typeof url !== 'string' || !url.startsWith(`${location.origin}/media/`)) return null;
  const id = url.slice(location.origin.length + 7).split('/')[0];
  return /^[A-Za-z0-9_-]{22}$/.test(id) ? id : null;
}

/**
 * Open the dialog for the image at `mediaUrl` (re-cropping a crop starts from its source);
 * resolves with the new media item, or null when cancelled.
 */
export async function cropDialog(mediaUrl, frame) {
  let item = await api('GET', `/v1/media/${mediaIdOf(mediaUrl)}`);
  let focus = item.focus ? { ...item.focus } : { x: 0.5, y: 0.5 };
  if (item.source_id) {
    try {
      item = await api('GET', `/v1/media/${item.source_id}`);
    } catch { /* the source is gone: crop the crop */ }
  }
  const aspect = frameAspect(frame);
  const W = item.width;
  const H = item.height;
  // The largest box of the frame's shape, centred.
  const bw = Math.min(W, H * aspect);
  let box = { w: bw, h: bw / aspect, x: (W - bw) / 2, y: (H - bw / aspect) / 2 };

  const img = h('img', { src: item.url, alt: '', draggable: 'false', class: 'crop-image' });
  const safe = h('div', { class: 'crop-safe', title: t('visual.crop_safe') });
  const dot = h('div', {
    class: 'crop-focus', tabindex: '0', role: 'slider', 'aria-label': t('visual.crop_focus'), 'data-testid': 'crop-focus',
  });
  const handle = h('div', { class: 'crop-handle', 'aria-hidden': 'true', 'data-testid': 'crop-handle' });
  const frameEl = h('div', {
    class: 'crop-frame', tabindex: '0', role: 'group', 'aria-label': t('visual.crop_frame'), 'data-testid': 'crop-frame',
  }, safe, dot, handle);
  const stage = h('div', { class: 'crop-stage', 'data-testid': 'crop-stage' }, img, frameEl);
  const facts = h('p', { class: 'muted small-text crop-facts', 'data-testid': 'crop-facts' });
  const status = h('p', { class: 'muted small-text', role: 'status', 'aria-live': 'polite', 'data-testid': 'crop-status' });
  const apply = h('button', { type: 'submit', class: 'primary', 'data-testid': 'crop-apply' }, t('visual.crop_apply'));
  const cancel = h('button', { type: 'button', 'data-testid': 'crop-cancel' }, t('visual.crop_cancel'));
  const heading = t('visual.crop_title', { height: t(`height.${frame.height}`) });
  const form = h('form', { method: 'dialog' },
    h('h2', {}, heading),
    h('p', { class: 'muted small-text' }, t('visual.crop_hint')),
    stage,
    facts,
    status,
    h('div', { class: 'dialog-actions' }, cancel, apply));
  const dialog = h('dialog', { class: 'dialog crop-dialog', 'aria-label': heading, 'data-testid': 'crop-dialog' }, form);
  document.body.append(dialog);

  const scale = () => img.clientWidth / W; // screen px per image px
  const clamp = () => {
    box.w = Math.max(Math.min(box.w, W, H * aspect), Math.min(MIN_SIDE * aspect, W));
    box.h = box.w / aspect;
    box.x = Math.min(Math.max(0, box.x), W - box.w);
    box.y = Math.min(Math.max(0, box.y), H - box.h);
  };
  const draw = () => {
    clamp();
    const s = scale();
    Object.assign(frameEl.style, { left: `${box.x * s}px`, top: `${box.y * s}px`, width: `${box.w * s}px`, height: `${box.h * s}px` });
    safe.style.left = `${((1 - SAFE_WIDTH) / 2) * 100}%`;
    safe.style.width = `${SAFE_WIDTH * 100}%`;
    Object.assign(dot.style, { left: `${focus.x * 100}%`, top: `${focus.y * 100}%` });
    dot.setAttribute('aria-valuetext', `${Math.round(focus.x * 100)}%, ${Math.round(focus.y * 100)}%`);
    facts.textContent = `${Math.round(box.w)}×${Math.round(box.h)} px`;
  };

  // Dragging: the frame moves, its corner resizes (keeping the ratio), a click sets the focal point.
  let drag = null;
  stage.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    const s = scale();
    const r = stage.getBoundingClientRect();
    const px = (e.clientX - r.left) / s;
    const py = (e.clientY - r.top) / s;
    const inside = px >= box.x && px <= box.x + box.w && py >= box.y && py <= box.y + box.h;
    drag = { mode: e.target === handle ? 'resize' : inside ? 'move' : null, px, py, start: { ...box }, moved: false };
    if (!drag.mode) { drag = null; return; }
    stage.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  stage.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const s = scale();
    const r = stage.getBoundingClientRect();
    const dx = (e.clientX - r.left) / s - drag.px;
    const dy = (e.clientY - r.top) / s - drag.py;
    if (Math.abs(dx) + Math.abs(dy) > 3 / s) drag.moved = true;
    if (drag.mode === 'move') box = { ...drag.start, x: drag.start.x + dx, y: drag.start.y + dy };
    else box = { ...drag.start, w: Math.max(drag.start.w + dx, (drag.start.h + dy) * aspect) };
    draw();
  });
  stage.addEventListener('pointerup', (e) => {
    if (drag && drag.mode === 'move' && !drag.moved) {
      const s = scale();
      const r = stage.getBoundingClientRect();
      focus = {
        x: Math.min(1, Math.max(0, ((e.clientX - r.left) / s - box.x) / box.w)),
        y: Math.min(1, Math.max(0, ((e.clientY - r.top) / s - box.y) / box.h)),
      };
      draw();
    }
    drag = null;
  });
  frameEl.addEventListener('keydown', (e) => {
    if (e.target !== frameEl) return;
    const step = (e.shiftKey ? 0.1 : 0.02) * Math.min(W, H);
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) { box.x += moves[e.key][0]; box.y += moves[e.key][1]; }
    else if (e.key === '+' || e.key === '=') box.w *= 1.05;
    else if (e.key === '-') { const cx = box.x + box.w / 2; const cy = box.y + box.h / 2; box.w /= 1.05; box.x = cx - box.w / 2; box.y = cy - box.w / aspect / 2; }
    else return;
    e.preventDefault();
    draw();
  });
  dot.addEventListener('keydown', (e) => {
    const moves = { ArrowLeft: [-0.05, 0], ArrowRight: [0.05, 0], ArrowUp: [0, -0.05], ArrowDown: [0, 0.05] };
    if (!moves[e.key]) return;
    e.preventDefault();
    e.stopPropagation();
    focus = { x: Math.min(1, Math.max(0, focus.x + moves[e.key][0])), y: Math.min(1, Math.max(0, focus.y + moves[e.key][1])) };
    draw();
  });
  const resize = new ResizeObserver(draw);

  return new Promise((resolve) => {
    let result = null;
    const done = () => { resize.disconnect(); dialog.remove(); resolve(result); };
    dialog.addEventListener('close', done);
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      apply.disabled = true;
      status.textContent = t('visual.crop_applying');
      clamp();
      const width = Math.round(box.w);
      const body = {
        x: Math.round(box.x), y: Math.round(box.y), width, height: Math.min(H - Math.round(box.y), Math.round(width / aspect)),
        focus: { x: Math.round(focus.x * 1000) / 1000, y: Math.round(focus.y * 1000) / 1000 },
        frame: Object.fromEntries(Object.entries(frame).filter(([, v]) => v)),
      };
      body.x = Math.min(body.x, W - width);
      try {
        result = await api('POST', `/v1/media/${item.id}/crop`, body);
        dialog.close();
      } catch (err) {
        apply.disabled = false;
        status.textContent = t('visual.crop_failed', { reason: err.describe ? err.describe() : err.message });
      }
    });
    const ready = () => { resize.observe(img); draw(); frameEl.focus(); };
    dialog.showModal();
    if (img.complete) ready(); else img.addEventListener('load', ready, { once: true });
  });
}

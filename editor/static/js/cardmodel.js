// Knowledge of the GSMA bot-message JSON the visual editor needs: where cards live,
// how to convert a standalone card to a carousel and back, and the suggestion kinds.

export const SINGLE = '/message/generalPurposeCard';
export const CAROUSEL = '/message/generalPurposeCardCarousel';
export const CARD_SUGGESTIONS_MAX = 4;
export const CHIPS_MAX = 11;
export const CAROUSEL_MAX = 12;

export const LIMITS = { title: 200, description: 2000, displayText: 25, postback: 2048, contentDescription: 200,
  label: 100, query: 200, calendarTitle: 100, calendarDescription: 500, composeText: 100 };

export function blankCard(title) {
  return { message: { generalPurposeCard: { layout: { cardOrientation: 'VERTICAL' }, content: { title } } } };
}

export function isCarousel(card) {
  return Boolean(card?.message?.generalPurposeCardCarousel);
}

/** [{path, content}] for each card in display order. */
export function cardsOf(card) {
  const msg = card?.message;
  if (!msg || typeof msg !== 'object') return [];
  if (Array.isArray(msg.generalPurposeCardCarousel?.content)) {
    return msg.generalPurposeCardCarousel.content.map((content, i) => ({ path: `${CAROUSEL}/content/${i}`, content }));
  }
  if (msg.generalPurposeCard?.content && typeof msg.generalPurposeCard.content === 'object') {
    return [{ path: `${SINGLE}/content`, content: msg.generalPurposeCard.content }];
  }
  return [];
}

/** Standalone → carousel (a carousel holds at least two cards) or carousel → its first card. */
export function toggleCarousel(card, newCardTitle) {
  const msg = card.message;
  if (msg.generalPurposeCardCarousel) {
    const first = msg.generalPurposeCardCarousel.content?.[0] || { title: newCardTitle };
    delete msg.generalPurposeCardCarousel;
    msg.generalPurposeCard = { layout: { cardOrientation: 'VERTICAL' }, content: first };
  } else {
    const single = msg.generalPurposeCard || {};
    const first = single.content || { title: newCardTitle };
    delete msg.generalPurposeCard;
    msg.generalPurposeCardCarousel = { layout: { cardWidth: 'MEDIUM_WIDTH' }, content: [first, { title: newCardTitle }] };
  }
}

// Suggestion kinds the editor offers, each with a factory for a fresh one.
export const KINDS = ['reply', 'url', 'dial', 'location', 'calendar', 'compose', 'location_push'];

export function kindOf(s) {
  if (!s || typeof s !== 'object') return 'reply';
  if (s.reply) return 'reply';
  const a = s.action || {};
  if (a.urlAction) return 'url';
  if (a.dialerAction) return 'dial';
  if (a.mapAction?.requestLocationPush) return 'location_push';
  if (a.mapAction) return 'location';
  if (a.calendarAction) return 'calendar';
  if (a.composeAction) return 'compose';
  return 'reply';
}

function pad(n) { return String(n).padStart(2, '0'); }

/** A local datetime-local value ("2026-12-01T09:00") as RFC 3339 with the browser's offset. */
export function localToRfc3339(value) {
  if (!value) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return undefined;
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  const base = value.length === 16 ? `${value}:00` : value;
  return `${base}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** RFC 3339 → the browser-local value for a datetime-local input. */
export function rfc3339ToLocal(value) {
  if (typeof value !== 'string') return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function tomorrowAt(hour) {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(hour, 0, 0, 0);
  return localToRfc3339(`${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(hour)}:00`);
}

/** A new suggestion of `kind`, keeping the display text and postback of `old`. */
export function makeSuggestion(kind, old, defaults) {
  const body = old?.reply || old?.action || {};
  const displayText = body.displayText ?? defaults.text;
  const postback = body.postback ?? { data: defaults.postback };
  if (kind === 'reply') return { reply: { displayText, postback } };
  const action = { displayText, postback };
  switch (kind) {
    case 'url': action.urlAction = { openUrl: { url: 'https://', application: 'browser' } }; break;
    case 'dial': action.dialerAction = { dialPhoneNumber: { phoneNumber: '+86' } }; break;
    case 'location': action.mapAction = { showLocation: { location: { latitude: 39.9042, longitude: 116.4074 } } }; break;
    case 'calendar': action.calendarAction = { createCalendarEvent: { startTime: tomorrowAt(9), endTime: tomorrowAt(10), title: displayText } }; break;
    case 'compose': action.composeAction = { composeTextMessage: { phoneNumber: '+86', text: '' } }; break;
    case 'location_push': action.mapAction = { requestLocationPush: {} }; break;
    default: break;
  }
  return { action };
}

/** The sub-path of a suggestion's body ("reply" or "action"). */
export function bodyKey(s) {
  return s && s.reply ? 'reply' : 'action';
}

// The persistent menu (the chatbot's, published through a channel): its limits per operator
// profile, as cards/limits.py has them (CN CSP: 2 levels, 3 top entries, 5 per submenu).
export const MENU_LIMITS = {
  cn_csp: { levels: 2, top: 3, sub: 5 },
  gsma: { levels: 3, top: 5, sub: 5 },
  rbm: { levels: 3, top: 5, sub: 5 },
};

/** A menu-only document: one reply entry. */
export function blankMenu(text) {
  return { menu: { entries: [{ reply: { displayText: text, postback: { data: 'menu-1' } } }] } };
}

export function hasMenu(card) {
  return Boolean(card?.menu && typeof card.menu === 'object' && !Array.isArray(card.menu));
}

/** A menu entry that is a submenu ({menu: {displayText, entries}}). */
export function isSubmenu(entry) {
  return Boolean(entry && typeof entry === 'object' && entry.menu && typeof entry.menu === 'object');
}

// Funnels drawn as plain bars (no canvas): one block per group (a variant, a campaign), one bar
// per stage, each as long as its count against the largest `accepted` of all groups. Used by the
// campaigns page and the dashboard.

import { h } from './dom.js';

export const STAGES = ['accepted', 'delivered', 'read', 'clicked', 'replied', 'converted'];

/** Draw `groups` ([{name, row}], row a funnel row or null) into `el`; `label(stage)` names a stage. */
export function funnelBars(el, groups, label = (s) => s) {
  const max = Math.max(1, ...groups.map((g) => (g.row ? g.row.accepted : 0)));
  const legend = h('div', { class: 'bars-legend' },
    STAGES.map((s) => h('span', { class: `swatch stage-${s}` }, label(s))));
  const blocks = groups.map((g) => h('div', { class: 'bars-group', 'data-group': g.name },
    h('div', { class: 'bars-name' }, g.name),
    h('div', { class: 'bars-stack' }, STAGES.map((s) => {
      const n = g.row ? g.row[s] : 0;
      return h('div', { class: 'bars-line', title: `${label(s)}: ${n}` },
        h('span', { class: `bar stage-${s}`, style: `width: ${((100 * n) / max).toFixed(1)}%` }),
        h('span', { class: 'bars-value', 'data-stage': s }, n.toLocaleString()));
    }))));
  el.replaceChildren(legend, ...blocks);
}

"""The live refresh of the sandbox's pages (the virtual handset, the SMS inbox): a script file the
page loads from its own server (CSP `script-src 'self'`, no inline script) that polls the page's
version URL (`data-version-url` on <html>) and reloads when the version changed (`data-version`),
unless a person is typing a reply."""

from __future__ import annotations

REFRESH_SCRIPT = """'use strict';
(() => {
  const root = document.documentElement;
  const url = root.dataset.versionUrl;
  let seen = root.dataset.version;
  if (!url) return;
  const typing = () => [...document.querySelectorAll('input[name=text]')].some((i) => i.value !== '');
  setInterval(async () => {
    try {
      const resp = await fetch(url, { cache: 'no-store' });
      const { version } = await resp.json();
      if (String(version) !== seen && !typing()) location.reload();
    } catch (err) { /* the simulator stopped: try again */ }
  }, 700);
})();
"""

"""Chromium for the browser benchmarks, and the in-page probes they time with.

Times are taken inside the page (performance.now(), whose zero is the navigation start,
and DOM event timestamps), so Playwright's own round trips are not part of any figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import CLIENT_CPU, pinned_to
from devtools.chromium import CHROMIUM, CHROMIUM_ARGS  # the same browser and flags as the e2e suite


# Installed before any page script: records when the first subscription card is in the
# DOM with a non-empty box (what Playwright calls visible), and keeps every resource entry.
# For the phases in between it also notes when the page opens its websocket, sends the
# hydrate event and receives the subscriptions (matched on Reflex's names; diagnostic only).
# `window.__bench.visible` resolves at that moment, so the runner awaits it instead of
# polling the page (Playwright's wait_for runs its injected script on the page's own main
# thread every frame, which delayed the very render being timed).
WATCH_SUBSCRIPTIONS_JS = """
(() => {
  performance.setResourceTimingBufferSize(2000);
  const bench = (window.__bench = {
    subscriptionsVisibleAt: null, socketOpenedAt: null, hydrateSentAt: null, dataArrivedAt: null,
  });
  bench.visible = new Promise((resolve) => { bench.resolveVisible = resolve; });
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      if (bench.socketOpenedAt === null) bench.socketOpenedAt = performance.now();
      this.addEventListener('message', (event) => {
        if (bench.dataArrivedAt === null && typeof event.data === 'string'
            && event.data.includes('"subscriptions_rx_state_":[{')) bench.dataArrivedAt = performance.now();
      });
    }
    send(data) {
      if (bench.hydrateSentAt === null && typeof data === 'string' && data.includes('hydrate_and_load')) {
        bench.hydrateSentAt = performance.now();
      }
      return super.send(data);
    }
  };
  const visible = () => {
    const card = document.querySelector('[data-subscription-id]');
    if (!card) return false;
    const box = card.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(card).visibility !== 'hidden';
  };
  const check = () => {
    if (bench.subscriptionsVisibleAt === null && visible()) {
      bench.subscriptionsVisibleAt = performance.now();
      observer.disconnect();
      bench.resolveVisible(bench.subscriptionsVisibleAt);
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true, attributes: true });
  document.addEventListener('DOMContentLoaded', check);
  window.addEventListener('load', check);
})();
"""

# Resolves once the probe above saw the card (null after `ms` milliseconds).
AWAIT_VISIBLE_JS = """
(ms) => Promise.race([window.__bench.visible, new Promise((resolve) => setTimeout(() => resolve(null), ms))])
"""

# Read after the card is visible: the mark above, navigation timing and every resource.
COLLECT_JS = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const pick = (e) => ({ name: e.name, initiatorType: e.initiatorType, transferSize: e.transferSize,
                         encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize });
  return {
    visibleAt: window.__bench.subscriptionsVisibleAt,
    socketOpenedAt: window.__bench.socketOpenedAt,
    hydrateSentAt: window.__bench.hydrateSentAt,
    dataArrivedAt: window.__bench.dataArrivedAt,
    navigation: nav ? { ...pick(nav), responseStart: nav.responseStart, responseEnd: nav.responseEnd,
                        domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd } : null,
    resources: performance.getEntriesByType('resource').map(pick),
  };
}
"""

# Arms a watch for one step of an action: resolves with (time the predicate first held)
# minus (timestamp of the next click), both on the page's clock; null after 30 s.
ARM_STEP_JS = """
([kind, subscriptionId]) => {
  const card = () => document.querySelector(`[data-subscription-id="${subscriptionId}"]`);
  const done = {
    dialog: () => { const d = document.querySelector('[role="alertdialog"]');
                    return !!d && d.getBoundingClientRect().height > 0; },
    cancels: () => !!card() && card().textContent.includes('Cancels on'),
  }[kind];
  let clickedAt = null;
  document.addEventListener('click', (e) => { clickedAt = e.timeStamp; }, { capture: true, once: true });
  window.__benchStep = new Promise((resolve) => {
    const finish = (value) => { observer.disconnect(); clearTimeout(timer); resolve(value); };
    const check = () => { if (clickedAt !== null && done()) finish(performance.now() - clickedAt); };
    const observer = new MutationObserver(check);
    observer.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
    const timer = setTimeout(() => finish(null), 30000);
  });
}
"""


@contextmanager
def chromium() -> Iterator[object]:
    """Headless Chromium on the client core (the server under test has the other one)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"Chromium not found at {CHROMIUM}; run `make setup` (installs Debian's chromium)."
        )
    with pinned_to(CLIENT_CPU), sync_playwright() as playwright:  # the driver and the browser inherit it
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()

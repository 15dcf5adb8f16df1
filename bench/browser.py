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
    subscriptionsVisibleAt: null, pageCompleteAt: null, socketOpenedAt: null, hydrateSentAt: null, dataArrivedAt: null,
  });
  bench.visible = new Promise((resolve) => { bench.resolveVisible = resolve; });
  bench.complete = new Promise((resolve) => { bench.resolveComplete = resolve; });
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
  // The whole page: its last section's heading is in the DOM (the portal renders the
  // sections below the subscriptions a frame later).
  const complete = () => document.getElementById('invoices-heading') !== null;
  const check = () => {
    if (bench.subscriptionsVisibleAt === null && visible()) {
      bench.subscriptionsVisibleAt = performance.now();
      bench.resolveVisible(bench.subscriptionsVisibleAt);
    }
    if (bench.pageCompleteAt === null && complete()) {
      bench.pageCompleteAt = performance.now();
      bench.resolveComplete(bench.pageCompleteAt);
    }
    if (bench.subscriptionsVisibleAt !== null && bench.pageCompleteAt !== null) observer.disconnect();
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true, attributes: true });
  document.addEventListener('DOMContentLoaded', check);
  window.addEventListener('load', check);
})();
"""

# After a step: its click, the event the page sent, the first delta back (the action's
# "pending") and the delta that carried `marker`, and when the DOM showed it; ms after the click.
STEP_PHASES_JS = """
([eventName, marker]) => {
  const clicked = window.__benchClickedAt, log = window.__benchSocket || [];
  const sent = log.find((m) => m.dir === 'out' && m.text.includes(eventName));
  const after = (m) => sent && m.dir === 'in' && m.at >= sent.at;
  const first = log.find(after), result = log.find((m) => after(m) && m.text.includes(marker));
  const rel = (m) => (m ? m.at - clicked : null);
  return { sent: rel(sent), first_delta: rel(first), result_delta: rel(result), shown: window.__benchDoneAt - clicked };
}
"""

# Resolve once the probe above saw the card / the whole page (null after `ms` milliseconds).
# (page.evaluate, not wait_for_function: the portal's CSP refuses the eval that polling uses.)
AWAIT_VISIBLE_JS = """
(ms) => Promise.race([window.__bench.visible, new Promise((resolve) => setTimeout(() => resolve(null), ms))])
"""
AWAIT_COMPLETE_JS = AWAIT_VISIBLE_JS.replace("__bench.visible", "__bench.complete")

# Read after the card is visible: the mark above, navigation timing and every resource.
COLLECT_JS = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const pick = (e) => ({ name: e.name, initiatorType: e.initiatorType, transferSize: e.transferSize,
                         encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize });
  return {
    visibleAt: window.__bench.subscriptionsVisibleAt,
    completeAt: window.__bench.pageCompleteAt,
    socketOpenedAt: window.__bench.socketOpenedAt,
    hydrateSentAt: window.__bench.hydrateSentAt,
    dataArrivedAt: window.__bench.dataArrivedAt,
    navigation: nav ? { ...pick(nav), responseStart: nav.responseStart, responseEnd: nav.responseEnd,
                        domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd } : null,
    resources: performance.getEntriesByType('resource').map(pick),
  };
}
"""

# For the action benchmark, installed before any page script: when the page sent an event and
# received each delta (performance.now()), to split a step's time into client and server parts.
WATCH_SOCKET_JS = """
(() => {
  const log = (window.__benchSocket = []);
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        if (typeof event.data === 'string') log.push({ at: performance.now(), dir: 'in', text: event.data });
      });
    }
    send(data) {
      if (typeof data === 'string') log.push({ at: performance.now(), dir: 'out', text: data });
      return super.send(data);
    }
  };
})();
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
  document.addEventListener('click', (e) => { clickedAt = e.timeStamp; window.__benchClickedAt = clickedAt; },
                            { capture: true, once: true });
  if (window.__benchSocket) window.__benchSocket.length = 0;
  window.__benchStep = new Promise((resolve) => {
    const finish = (value) => { observer.disconnect(); clearTimeout(timer); resolve(value); };
    const check = () => {
      if (clickedAt !== null && done()) { window.__benchDoneAt = performance.now(); finish(window.__benchDoneAt - clickedAt); }
    };
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

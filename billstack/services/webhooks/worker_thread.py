"""The worker thread that drains due events, one per server process."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from billstack.services import audit
from billstack.services.webhooks.events import precise_now
from billstack.services.webhooks.processing import process_due_events, prune_processed

log = logging.getLogger("billstack.webhooks")


class WebhookWorker:
    """One daemon thread per process draining due events.

    Woken at once by each receipt (`notify`); otherwise it looks every `poll_interval`
    seconds, which picks up retries that fell due and events another process left
    behind, and drains the backlog when the server starts.
    """

    def __init__(self, poll_interval: float = 5.0, prune_every: timedelta = timedelta(hours=1)) -> None:
        self.poll_interval = poll_interval
        self.prune_every = prune_every
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="billstack-webhooks", daemon=True)
            self._thread.start()
        log.info("webhook worker started")

    def notify(self) -> None:
        self.start()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        next_prune = precise_now()
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                process_due_events()
                if precise_now() >= next_prune:
                    prune_processed()
                    audit.prune_expired()  # the audit trail's retention rides on the same hourly pass
                    next_prune = precise_now() + self.prune_every
            except Exception:  # e.g. the database is briefly away: try again on the next pass
                log.exception("webhook worker: processing pass failed")
            self._wake.wait(self.poll_interval)


worker = WebhookWorker()


@asynccontextmanager
async def worker_lifespan() -> AsyncIterator[None]:
    """Server lifespan (registered in billstack.py): run the worker, so a backlog left by a
    restart is processed even if no new webhook arrives."""
    worker.start()
    try:
        yield
    finally:
        await asyncio.to_thread(worker.stop)


"""Pages the emulator serves to browsers: hosted Checkout (setup mode) and hosted invoices."""

from __future__ import annotations

routes: list = []

"""Debian's Chromium as the browser tests and the benchmarks launch it (never a downloaded build)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("BILLSTACK_CHROMIUM", "/usr/bin/chromium")
# Headless as root, and no background traffic: this machine reaches only package registries.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

"""Audit events API: an operator's (or the SaaS backend's) read of what was done in a
project's portal and to its sessions, with the project's API key.

Thin: authenticate (ProjectAuth), one service call (services/audit.py), shape the page.
`billstack audit list` calls the same service.
"""

from __future__ import annotations

from fastapi import APIRouter

from billstack import routes

router = APIRouter(prefix=routes.API_PREFIX, tags=["Audit events"])

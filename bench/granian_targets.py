"""Launchers for the bench servers, both on Granian exactly as `billstack serve` runs it.

    python -m bench.granian_targets portal             # `billstack serve` + the static baseline page
    python -m bench.granian_targets sqlite-insert P    # bare Starlette baseline on port P
    python -m bench.granian_targets postgres-insert P

`portal` goes through `billstack.server.serve()` itself (settings, migrations, frontend
bundle, environment, Granian options) and only swaps Granian's target for
`bench.apps:portal_app_with_static_baseline`, which wraps the production app. If the
production target ever changes, the launcher refuses to run rather than benchmark
something else.
"""

from __future__ import annotations

import sys

PRODUCTION_TARGET = "billstack.server:asgi_app"
PORTAL_TARGET = "bench.apps:portal_app_with_static_baseline"
BASELINE_TARGETS = {
    "sqlite-insert": "bench.apps:sqlite_insert_app",
    "postgres-insert": "bench.apps:postgres_insert_app",
}


def serve_portal_with_baseline() -> None:
    import granian.server

    from billstack import server

    production_server = granian.server.Server

    class WithStaticBaseline(production_server):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            if kwargs.get("target") != PRODUCTION_TARGET:
                raise SystemExit(
                    f"billstack serve now runs {kwargs.get('target')!r}; update bench/granian_targets.py"
                )
            kwargs["target"] = PORTAL_TARGET
            super().__init__(*args, **kwargs)

    granian.server.Server = WithStaticBaseline  # run_server imports it at call time
    server.serve()


def serve_baseline(kind: str, port: int) -> None:
    """Same Granian options as `billstack.server.run_server` (one worker, ASGI, no access log)."""
    from granian.constants import Interfaces
    from granian.server import Server

    Server(
        target=BASELINE_TARGETS[kind],
        factory=True,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    if sys.argv[1] == "portal":
        serve_portal_with_baseline()
    else:
        serve_baseline(sys.argv[1], int(sys.argv[2]))

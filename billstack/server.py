"""`billstack serve`: one process serving the portal pages, the websocket and the APIs.

Reflex bakes the backend URL into the frontend bundle (`.web/env.json`), so the bundle
is rebuilt whenever the public URL or the app's sources change, and reused otherwise
(a stamp in `.web/` records what it was built for). `billstack build` makes it ahead of
time, so a production host needs no bun. Only this parent process ever builds, under a
file lock in the build folder (two servers sharing it never build at once); the workers
never compile. The server itself is Granian running Reflex's ASGI app with the compiled
frontend mounted on the same port.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from billstack.config import ConfigError, Settings, get_settings, resolve_secret_key
from billstack.logs import granian_log_config, install_log_redaction

ROOT = Path(__file__).resolve().parent.parent
BUN_BIN_DIR = ROOT / "tools" / "node_modules" / ".bin"
# What the frontend bundle is built from: a change to any of these means rebuild.
BUILD_INPUTS = ("billstack", "assets", "rxconfig.py", "reflex.lock", "requirements.txt")
STATES_DIR = ".states"  # Reflex's disk state manager's folder (REFLEX_STATES_WORKDIR)


def reflex_env(public_url: str) -> dict[str, str]:
    """Environment for Reflex subprocesses: project-local bun, no telemetry, our URL."""
    env = dict(os.environ)
    env.update(
        REFLEX_API_URL=public_url,
        REFLEX_DEPLOY_URL=public_url,
        REFLEX_USE_SYSTEM_BUN="1",
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_CHECK_LATEST_VERSION="false",
        PATH=f"{BUN_BIN_DIR}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def build_stamp(public_url: str) -> str:
    digest = hashlib.sha256(public_url.encode())
    for name in BUILD_INPUTS:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def web_dir() -> Path:
    """Reflex's build folder; REFLEX_WEB_WORKDIR lets two servers with different URLs coexist."""
    return ROOT / os.environ.get("REFLEX_WEB_WORKDIR", ".web")


def stamp_file() -> Path:
    return web_dir() / "billstack-build.json"


def build_lock_file() -> Path:
    return web_dir() / "billstack-build.lock"


def rebuild_reason(public_url: str) -> str | None:
    """Why the bundle in the build folder can't be served for `public_url`, or None."""
    if not (web_dir() / "build" / "client" / "index.html").exists() or not stamp_file().exists():
        return f"no frontend build in {web_dir()}"
    try:
        stamp = json.loads(stamp_file().read_text())
    except (OSError, ValueError):
        return f"the build stamp {stamp_file()} is unreadable"
    if stamp.get("publicUrl") not in (None, public_url):
        return f"the frontend was built for {stamp['publicUrl']}"
    if stamp.get("stamp") != build_stamp(public_url):
        return "the app's sources changed since the frontend was built"
    return None


def frontend_is_current(public_url: str) -> bool:
    return rebuild_reason(public_url) is None


@contextmanager
def build_lock() -> Iterator[None]:
    """Exclusive use of the build folder: a second server sharing it waits here, then finds
    the bundle current. The kernel releases the lock if this process dies."""
    build_lock_file().parent.mkdir(parents=True, exist_ok=True)
    with build_lock_file().open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_frontend(public_url: str, *, force: bool = False, out: TextIO | None = None) -> bool:
    """Compile the Reflex pages and bundle them for `public_url`, unless the bundle is already
    current (then say so). Progress and the build's output go to `out` (default stdout).
    Returns whether it built."""
    out = out or sys.stdout
    with build_lock():
        reason = "--force" if force else rebuild_reason(public_url)
        if reason is None:
            print(f"Frontend bundle is current for {public_url} ({web_dir()}).", file=out, flush=True)
            return False
        if not (BUN_BIN_DIR / "bun").exists() and not shutil.which("bun"):
            raise ConfigError(
                f"The frontend must be built ({reason}) but bun is missing. Build it ahead of time with "
                f"`billstack build --public-url {public_url}` on a machine set up with `make setup`, and copy "
                f"{web_dir().name}/ here, or run `make setup` on this host."
            )
        print(f"Building the frontend for {public_url} ({reason}; a first build takes a minute)…", file=out, flush=True)
        started = time.monotonic()
        command = [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip", "--env", "prod"]
        result = subprocess.run(command, cwd=ROOT, env=reflex_env(public_url), stdout=None if out is sys.stdout else out, check=False)
        if result.returncode != 0:
            raise ConfigError(f"Frontend build failed (exit {result.returncode}); see the output above.")
        stamp_file().write_text(json.dumps({"stamp": build_stamp(public_url), "publicUrl": public_url}))
        print(f"Frontend built for {public_url} in {time.monotonic() - started:.0f} s.", file=out, flush=True)
        return True


def asgi_app():  # noqa: ANN201 - Granian factory
    """What each Granian worker serves, its logging redacted. A worker never compiles: the
    parent built the bundle, and workers compiling at once delete each other's pages
    (Reflex's purge_web_pages_dir). Reflex reads this flag as `__REFLEX_SKIP_COMPILE`, an
    internal name, which is why setting REFLEX_SKIP_COMPILE never had any effect."""
    from reflex_base.environment import environment

    environment.REFLEX_SKIP_COMPILE.set(True)
    served = served_app()
    # After Granian's, Reflex's and python-engineio's setup add their handlers.
    install_log_redaction(get_settings().log_level, get_settings().log_format)
    return served


def served_app():  # noqa: ANN201 - an ASGI app
    """The Reflex ASGI app with the compiled frontend mounted, behind the session API's
    fast path and the layers that wrap everything (api_routes/fast_paths.py).

    Imports here, not at the top: importing the app builds the whole Reflex app, which only
    a server worker must do (the CLI imports this module for `serve`), and only once the
    mount flag below is set."""
    from reflex_base.environment import environment

    environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.set(True)
    from api_routes.fast_paths import FastPaths
    from billstack.billstack import app

    return FastPaths(app())


def effective_settings(host: str | None, port: int | None) -> Settings:
    settings = get_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    return settings.model_copy(update=overrides) if overrides else settings


def serve(host: str | None = None, port: int | None = None, *, workers: int | None = None) -> None:
    settings, public_url = prepare(host, port)
    run_server(settings, public_url, workers=workers)


def prepare(host: str | None = None, port: int | None = None) -> tuple[Settings, str]:
    """Everything before binding the port: secret key check, migrations, frontend bundle."""
    from billstack.migrate import upgrade  # Alembic loads only when the server is started

    settings = effective_settings(host, port)
    resolve_secret_key(settings)  # production refuses to start without one
    settings.allowed_origins()  # a bad BILLSTACK_CORS_ORIGINS is refused before the build
    settings.trusted_proxy_networks()  # so is a bad BILLSTACK_TRUSTED_PROXIES
    public_url = settings.resolved_public_url
    remove_disk_state()
    upgrade()
    build_frontend(public_url)
    return settings, public_url


def remove_disk_state() -> None:
    """Delete what Reflex's disk state manager wrote before rxconfig.py chose memory/Redis:
    pickles of every tab's state, portal tokens and customer data included."""
    shutil.rmtree(ROOT / os.environ.get("REFLEX_STATES_WORKDIR", STATES_DIR), ignore_errors=True)


def run_server(settings: Settings, public_url: str, *, workers: int | None = None) -> None:
    # Granian loads only when the server is started, not with every CLI command.
    from granian.constants import Interfaces
    from granian.server import Server as Granian

    os.environ.update(reflex_env(public_url))
    os.environ["REFLEX_ENV_MODE"] = "prod"
    os.environ["BILLSTACK_HOST"] = settings.host
    os.environ["BILLSTACK_PORT"] = str(settings.port)
    count = workers or settings.workers
    if count > 1 and not os.environ.get("REFLEX_REDIS_URL"):
        raise ConfigError("BILLSTACK_WORKERS > 1 needs REFLEX_REDIS_URL: in-process portal state cannot be shared.")
    print(f"BillStack listening on {public_url} (bind {settings.host}:{settings.port}, {count} worker(s))", flush=True)
    Granian(
        target="billstack.server:asgi_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=count,
        log_access=False,  # BILLSTACK_ACCESS_LOG is ours (api_routes/request_log.py): tokens redacted
        log_level=settings.log_level.lower(),
        log_dictconfig=granian_log_config(settings.log_format),
    ).serve()

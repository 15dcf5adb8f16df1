"""Two `billstack serve` hosts (two workers each) on one PostgreSQL and one Redis, behind a
real nginx running deploy/nginx.conf: the deployment the README's "Run several hosts"
describes, for tests/e2e/test_many_hosts.py.

The proxy adds `X-Upstream: <host:port>` (the host that answered) to every response, the
websocket's 101 included, so a test can prove which host served a page load, an API call or
a tab's event channel. That header lives in this harness's wrapper, not in the example.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from billstack import routes
from billstack.migrate import upgrade
from billstack.private_files import private_file
from devtools.database import PG_ADMIN_URL, throwaway_database, unreachable_reason
from devtools.redis_server import unreachable_reason as redis_unreachable_reason
from tests.live_server import REPO, LiveServer, live_billstack, port_is_free, stop, wait_until_up

NGINX = os.environ.get("BILLSTACK_NGINX", "/usr/sbin/nginx")
NGINX_EXAMPLE = REPO / "deploy" / "nginx.conf"
# Fixed ports keep the bundle (built for the proxy's public URL) reusable across runs.
PROXY_PORT = int(os.environ.get("BILLSTACK_E2E_PROXY_PORT", "18770"))
HOST_PORTS = (PROXY_PORT + 1, PROXY_PORT + 2)
PUBLIC_URL = f"http://127.0.0.1:{PROXY_PORT}"
# A Redis database this harness owns: flushed at start, so limits left by an earlier run
# within the minute do not count.
REDIS_URL = os.environ.get("BILLSTACK_E2E_REDIS_URL", "redis://127.0.0.1:6379/4")
WORKERS_PER_HOST = 2
SESSIONS_PER_MINUTE = 20
TOKEN_FAILURES_PER_MINUTE = 12
UPSTREAM_HEADER = "x-upstream"
START_TIMEOUT_S = 600  # the first build installs the frontend packages
PROXY_TIMEOUT_S = 20


@dataclass(frozen=True)
class ManyHosts:
    proxy: LiveServer  # what customers and the SaaS backend reach: nginx
    hosts: tuple[LiveServer, ...]  # each host's own URL, for a webhook sent to one of them
    db_url: str
    emulator_url: str

    def upstream(self, host: LiveServer) -> str:
        """How the proxy names `host` in X-Upstream."""
        return f"127.0.0.1:{host.url.rsplit(':', 1)[1]}"

    def other_than(self, upstream: str) -> LiveServer:
        (other,) = [host for host in self.hosts if self.upstream(host) != upstream]
        return other


def missing_services() -> list[str]:
    """Why this deployment cannot run here (empty when PostgreSQL, Redis and nginx are there)."""
    reasons = []
    if reason := unreachable_reason(PG_ADMIN_URL):
        reasons.append(reason)
    if reason := redis_unreachable_reason(REDIS_URL):
        reasons.append(reason)
    if not Path(NGINX).exists():
        reasons.append(f"nginx not found at {NGINX} (`make setup` installs Debian's nginx)")
    return reasons


def require_services() -> None:
    """Skip with the reasons, or fail under BILLSTACK_REQUIRE_PG=1 (CI has all three)."""
    if reasons := missing_services():
        message = "; ".join(reasons)
        if os.environ.get("BILLSTACK_REQUIRE_PG") == "1":
            pytest.fail(f"BILLSTACK_REQUIRE_PG=1 but {message}")
        pytest.skip(message)


def web_workdir() -> str:
    """A build folder of its own: the single-server e2e run builds for another URL."""
    return f"{os.environ.get('REFLEX_WEB_WORKDIR') or '.web'}-hosts"


def build_frontend_once(log_path: Path) -> None:
    """`billstack build` for the proxy's URL, before any host starts: hosts only serve it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BILLSTACK_")}
    env |= {"BILLSTACK_PUBLIC_URL": PUBLIC_URL, "REFLEX_WEB_WORKDIR": web_workdir()}
    with private_file(log_path).open("w") as log:
        result = subprocess.run([sys.executable, "-m", "billstack", "build", "--public-url", PUBLIC_URL],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=START_TIMEOUT_S)
    if result.returncode != 0:
        pytest.fail(f"billstack build failed ({result.returncode}):\n{log_path.read_text()[-4000:]}")


def render_nginx(folder: Path) -> Path:
    """deploy/nginx.conf with only the host addresses, listen port and log path replaced,
    inside a main config whose pid, logs and temp files stay in `folder`."""
    site = substitute(NGINX_EXAMPLE.read_text(), {
        "server 10.0.0.11:8000 ": f"server 127.0.0.1:{HOST_PORTS[0]} ",
        "server 10.0.0.12:8000 ": f"server 127.0.0.1:{HOST_PORTS[1]} ",
        "listen 80;": f"listen 127.0.0.1:{PROXY_PORT};",
        "/var/log/nginx/billstack.access.log": str(folder / "access.log"),
    })
    (folder / "billstack.conf").write_text(site)
    temp = "\n".join(f"    {name}_temp_path {folder / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = folder / "nginx.conf"
    main.write_text(f"""worker_processes 2;
pid {folder / 'nginx.pid'};
events {{ worker_connections 1024; }}
http {{
{temp}
    add_header X-Upstream $upstream_addr always;
    include {folder / 'billstack.conf'};
}}
""")
    return main


def substitute(text: str, replacements: dict[str, str]) -> str:
    """Replace each key on the uncommented lines, where it must occur exactly once: a changed
    example must break this test loudly, not run something else."""
    lines = text.splitlines(keepends=True)
    for old, new in replacements.items():
        hits = [i for i, line in enumerate(lines) if old in line and not line.lstrip().startswith("#")]
        assert len(hits) == 1, f"deploy/nginx.conf: expected {old!r} once on an active line, found {len(hits)}"
        lines[hits[0]] = lines[hits[0]].replace(old, new)
    return "".join(lines)


@contextmanager
def running_nginx(folder: Path) -> Iterator[Path]:
    """nginx in the foreground as our child; yields its access log."""
    if not port_is_free(PROXY_PORT):
        pytest.fail(f"Port {PROXY_PORT} is busy; free it or set BILLSTACK_E2E_PROXY_PORT.")
    folder.mkdir(exist_ok=True)
    config = render_nginx(folder)
    error_log = folder / "error.log"
    # As root, nginx's workers would switch to an unprivileged user that cannot write here.
    user = "user root;" if os.geteuid() == 0 else ""
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-e", str(error_log), "-c", str(config), "-g", f"daemon off; {user}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until_up(PUBLIC_URL, process, lambda: error_log.read_text() if error_log.exists() else "",
                      PROXY_TIMEOUT_S)
        yield folder / "access.log"
    finally:
        stop(process)


def wait_ready(host: LiveServer) -> None:
    """Every worker's /readyz: database and Redis reachable (it is answered per process)."""
    wait_until_up(host.url, None, host.log_path.read_text, PROXY_TIMEOUT_S, path=routes.READYZ_PATH)


@contextmanager
def many_hosts(folder: Path, emulator_url: str) -> Iterator[ManyHosts]:
    """The whole deployment, stopped (and its database dropped) on the way out."""
    require_services()
    redis.Redis.from_url(REDIS_URL).flushdb()
    with throwaway_database(PG_ADMIN_URL, "billstack_hosts") as db_url, ExitStack() as stack:
        upgrade(db_url)
        build_frontend_once(folder / "build.log")
        settings = {
            "BILLSTACK_PUBLIC_URL": PUBLIC_URL,
            "BILLSTACK_WORKERS": str(WORKERS_PER_HOST),
            "REFLEX_REDIS_URL": REDIS_URL,
            "BILLSTACK_TRUSTED_PROXIES": "127.0.0.1",
            "BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE": str(SESSIONS_PER_MINUTE),
            "BILLSTACK_RATE_LIMIT_TOKEN_FAILURES_PER_MINUTE": str(TOKEN_FAILURES_PER_MINUTE),
            "BILLSTACK_ACCESS_LOG": "1",
        }
        hosts = []
        for index, port in enumerate(HOST_PORTS):
            data_dir = folder / f"host-{index + 1}"
            data_dir.mkdir()
            hosts.append(stack.enter_context(live_billstack(
                port, data_dir, emulator_url, database_url=db_url, web_workdir=web_workdir(), **settings
            )))
        for host in hosts:
            wait_ready(host)
        access_log = stack.enter_context(running_nginx(folder / "nginx"))
        proxy = LiveServer(url=PUBLIC_URL, db_url=db_url, emulator_url=emulator_url, log_path=access_log)
        yield ManyHosts(proxy=proxy, hosts=tuple(hosts), db_url=db_url, emulator_url=emulator_url)

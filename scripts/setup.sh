#!/usr/bin/env bash
# `make setup`: everything a development or CI machine needs, idempotent and quick when nothing
# changed. Python packages from PyPI (pinned: requirements-dev.txt, i.e. the runtime pins of
# requirements.txt plus the test and bench tools), bun from the npm registry, Chromium and nginx
# from Debian. Chromium and nginx are only for the tests (the browser tests; the several-hosts
# test behind a real proxy): a production host needs only `pip install -r requirements.txt`
# and a bundle made by `billstack build` (no bun when the bundle is current).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PY="$VENV/bin/python"

step() { printf '==> %s\n' "$*"; }

# 1. Python virtual environment with the pinned packages.
if [ ! -x "$PY" ]; then
  python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { echo "error: Python 3.11+ is required (python3 is $(python3 --version 2>&1))." >&2; exit 1; }
  step "creating $VENV"
  python3 -m venv "$VENV"
fi
req_hash=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$req_hash" ]; then
  step "installing pinned Python packages (requirements-dev.txt: runtime + test tools)"
  "$PY" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$req_hash" > "$VENV/.requirements.sha256"
fi

# 2. bun (Reflex builds the frontend with it) and axe-core (accessibility tests), pinned in
#    tools/package-lock.json, from the npm registry into tools/node_modules.
tools_hash=$(cat tools/package.json tools/package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat tools/node_modules/.installed.sha256 2>/dev/null)" != "$tools_hash" ]; then
  command -v npm >/dev/null || { echo "error: npm (Node.js 20+) is required: apt-get install nodejs npm" >&2; exit 1; }
  step "installing bun and axe-core from the npm registry (tools/)"
  npm ci --prefix tools --no-audit --no-fund --silent
  echo "$tools_hash" > tools/node_modules/.installed.sha256
fi

# 3. Chromium (browser tests) and nginx (the several-hosts test's reverse proxy), from Debian's
#    packages. Only the tests use them: they start nginx themselves, with their own config and ports.
missing=()
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    step "installing ${missing[*]} (Debian packages, for the tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "error: the tests need ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# 4. Database schema (SQLite by default, BILLSTACK_DATABASE_URL otherwise).
step "migrating the database"
"$PY" -m billstack db upgrade

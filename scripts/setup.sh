#!/usr/bin/env bash
# `make setup`: everything a fresh machine needs, idempotent and quick when nothing changed.
# Python packages from PyPI (pinned), bun from the npm registry, Chromium from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

BUN_VERSION="1.4.5"
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
req_hash=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$req_hash" ]; then
  step "installing pinned Python packages (requirements.txt)"
  "$PY" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$req_hash" > "$VENV/.requirements.sha256"
fi

# 2. bun from the npm registry, project-local (Reflex builds the frontend with it).
if [ "$(.tools/node_modules/.bin/bun --version 2>/dev/null)" != "$BUN_VERSION" ]; then
  command -v npm >/dev/null || { echo "error: npm is required to install bun (apt-get install npm)." >&2; exit 1; }
  step "installing bun $BUN_VERSION from the npm registry into .tools/"
  mkdir -p .tools
  [ -f .tools/package.json ] || echo '{"private": true}' > .tools/package.json
  npm install --prefix .tools --no-audit --no-fund --silent "bun@$BUN_VERSION"
fi

# 3. Chromium for the browser tests, from Debian's packages.
if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ]; then
    step "installing chromium (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: Chromium is missing; run: sudo apt-get install -y chromium" >&2
    exit 1
  fi
fi

# 4. Database schema (SQLite by default, BILLSTACK_DATABASE_URL otherwise).
step "migrating the database"
"$PY" -m billstack db upgrade

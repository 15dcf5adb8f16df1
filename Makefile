# BillStack Portal. Two commands to know: `make demo` and `make test`.
PY := .venv/bin/python
PYTEST := $(PY) -m pytest

.PHONY: setup test test-unit test-e2e fuzz demo build serve emulator bench bench-smoke clean

setup:  ## venv + pinned packages (requirements-dev.txt), bun, Chromium + nginx (tests only), migrations
	@bash scripts/setup.sh

test: setup  ## the whole suite: unit/API/emulator/fuzz (SQLite + PostgreSQL), bench-smoke, then the browser tests
	$(PYTEST) tests --ignore=tests/e2e
	$(PY) -m bench.run --smoke
	$(PYTEST) tests/e2e -p no:asyncio

test-unit: setup
	$(PYTEST) tests --ignore=tests/e2e

test-e2e: setup
	$(PYTEST) tests/e2e -p no:asyncio

fuzz: setup  ## the fuzz suites (tests/fuzz: hypothesis + schemathesis) with many more examples, randomized (minutes)
	BILLSTACK_FUZZ=1 $(PYTEST) tests/fuzz -p no:cacheprovider --timeout=3600

demo: setup  ## emulator + seeded demo tenant + server; prints the portal URL, API key and a curl
	$(PY) -m billstack demo

build: setup  ## the frontend bundle for BILLSTACK_PUBLIC_URL, ahead of time (`serve` then needs no bun)
	$(PY) -m billstack build

serve: setup  ## production server, settings from BILLSTACK_* environment variables
	$(PY) -m billstack serve

emulator: setup  ## the local Stripe emulator on 127.0.0.1:12111
	$(PY) -m billstack emulator

bench: setup  ## every benchmark (minutes; seeds bench/.data/ once) → bench/results/latest.json
	$(PY) -m bench.run

bench-smoke: setup  ## a seconds-long run of every benchmark (part of `make test`) → bench/results/smoke.json
	$(PY) -m bench.run --smoke

clean:  ## built frontends, local data, test artefacts (not bench/.data: the seeded scale databases)
	rm -rf .web .web-* data test-artifacts

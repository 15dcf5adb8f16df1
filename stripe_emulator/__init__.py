"""A stateful, wire-compatible local Stripe (test mode only) for the demo and the tests.

A package of its own beside `billstack/`: it imports nothing from the product, and the
served app (`billstack serve`) never imports it — the portal only knows Stripe's base URL.
The CLI's development commands (`billstack emulator`, `billstack demo`), the tests and the
benchmarks use it. Entry points: `server.create_app` / `server.serve`, `seed`; the test
helpers (`running_emulator`, control API) are in `devtools.emulator`.
"""

"""A stateful, wire-compatible local Stripe (test mode only) for the demo and the tests.

Production code never imports this package: the portal only knows Stripe's base URL.
Entry points: `server.create_app` / `server.serve`, `testing.running_emulator`, `seed`.
"""

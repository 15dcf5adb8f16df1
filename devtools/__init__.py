"""Development tooling beside the product: throwaway databases, the emulator's test
helpers, the demo tenant and the browser settings. Tests, benchmarks and the CLI's
`demo`/`emulator` commands use it; the served app (`billstack serve`) never imports it."""

"""BillStack benchmarks: `make bench` (full) and `make bench-smoke` (seconds-long, part of `make test`).

`python -m bench.run --help` lists the options; README.md ("Benchmarks") says what each measures.
"""

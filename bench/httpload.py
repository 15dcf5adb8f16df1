"""A small keep-alive HTTP/1.1 load generator: N connections, requests back to back.

Why not httpx or a thread pool: the client must not be the bottleneck. On one core this
asyncio client speaks HTTP/1.1 over raw streams with pre-encoded requests (tens of µs
of CPU per request), and it reports its own CPU use so a run can show the client had
headroom. It runs as its own process, pinned to the core the server is not on:

    echo '{"host": "127.0.0.1", "port": 18800, "requests": [...], ...}' | python -m bench.httpload

(the spec comes on stdin: it can be larger than one command-line argument may be) and
prints one JSON object: requests, errors, statuses, rps, latency percentiles (ms), and
client CPU seconds. `requests` are raw request bytes (latin-1 strings); connection i
starts at request i and cycles through them.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    latencies_ns: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    first_error: str | None = None
    answered: int = 0  # every response, warm-up included (for the server's CPU per request)


def build_request(
    method: str, host: str, port: int, path: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one response; returns (status, whether the server will close the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, closing = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            closing = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, closing


async def _connection(
    index: int, host: str, port: int, requests: list[bytes], record_from: float, stop_at: float, tally: Tally
) -> None:
    writer = None
    position = index
    try:
        while time.perf_counter() < stop_at:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
                writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request = requests[position % len(requests)]
            position += 1
            started = time.perf_counter_ns()
            writer.write(request)
            status, closing = await _read_response(reader)
            finished = time.perf_counter_ns()
            tally.answered += 1
            if started / 1e9 >= record_from:  # perf_counter and perf_counter_ns share a clock
                tally.latencies_ns.append(finished - started)
                tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if closing:
                writer.close()
                writer = None
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.errors += 1
        tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
    finally:
        if writer is not None:
            writer.close()


async def run(
    host: str, port: int, requests: list[bytes], *, concurrency: int, seconds: float, warmup_s: float
) -> dict[str, Any]:
    tally = Tally()
    start = time.perf_counter()
    record_from, stop_at = start + warmup_s, start + warmup_s + seconds
    cpu_start = time.process_time()
    await asyncio.gather(
        *(_connection(i, host, port, requests, record_from, stop_at, tally) for i in range(concurrency))
    )
    measured_s = max(1e-9, min(time.perf_counter(), stop_at + 30) - record_from)
    cpu_s = time.process_time() - cpu_start
    return summarise(tally, measured_s, cpu_s * seconds / (warmup_s + seconds))


def summarise(tally: Tally, measured_s: float, client_cpu_s: float) -> dict[str, Any]:
    ordered = sorted(tally.latencies_ns)

    def pct(p: float) -> float | None:  # nearest rank, as bench.common.percentile
        if not ordered:
            return None
        return ordered[min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1] / 1e6

    ok = sum(n for status, n in tally.statuses.items() if 200 <= status < 300)
    return {
        "requests": len(ordered),
        "ok": ok,
        "answered_with_warmup": tally.answered,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": tally.errors,
        "first_error": tally.first_error,
        "seconds": measured_s,
        "rps": ok / measured_s,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": ordered[-1] / 1e6 if ordered else None,
        "latencies_ms": [v / 1e6 for v in tally.latencies_ns],
        "client_cpu_s": client_cpu_s,
        "client_cpu_share": client_cpu_s / measured_s,
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    requests = [r.encode("latin-1") for r in spec["requests"]]
    result = asyncio.run(
        run(
            spec["host"],
            spec["port"],
            requests,
            concurrency=spec["concurrency"],
            seconds=spec["seconds"],
            warmup_s=spec.get("warmup_s", 0.5),
        )
    )
    if not spec.get("keep_latencies", False):
        result.pop("latencies_ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Server benchmark (issue 3 targets). Prints a table.

Starts ``agentspec serve examples/quickstart --dev`` (scripted model, durable SQLite event log) in
one process and drives it from another process (this script's load generator, started as a
subprocess) so the load does not share the server's event loop.

- invoke requests/s and p50/p99 latency at concurrency 1, 64 and 256
- stream: time to first event (p50/p99)
- memory per idle WebSocket connection with N connections (default 10,000)

Usage: python benchmarks/server.py [--quick] [--ws N]
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUICK = "--quick" in sys.argv
WS_CONNECTIONS = (
    int(sys.argv[sys.argv.index("--ws") + 1]) if "--ws" in sys.argv else (1000 if QUICK else 10_000)
)
QUESTION = "What is 12 + 30?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _more_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- load generator (child process)


async def _invoke_load(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    """Each worker owns one keep-alive connection and speaks raw HTTP/1.1 (httpx's pool is
    itself the bottleneck at high concurrency on 2 cores)."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"message": QUESTION}).encode()
    request = (
        f"POST /v1/agents/assistant/invoke HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if status != 200:
                    errors += 1
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "errors": errors,
    }


async def _first_event(url: str, count: int) -> dict[str, float]:
    import httpx

    times: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            async with client.stream(
                "POST", "/v1/agents/assistant/stream", json={"message": QUESTION}
            ) as response:
                lines = response.aiter_lines()
                async for line in lines:
                    if line.startswith("event:"):
                        times.append((time.perf_counter() - started) * 1000)
                        break
                async for _ in lines:
                    pass
    times.sort()
    return {"p50": statistics.median(times), "p99": times[int(len(times) * 0.99) - 1]}


async def _idle_websockets(url: str, count: int, report: str) -> None:
    import websockets

    connections = []
    for _ in range(count):
        ws = await websockets.connect(url.replace("http", "ws") + "/ws", max_size=2**20)
        await ws.recv()  # hello
        connections.append(ws)
    Path(report).write_text("ready")
    await asyncio.sleep(3600)


def child(args: list[str]) -> None:
    mode, url = args[0], args[1]
    if mode == "invoke":
        print(json.dumps(asyncio.run(_invoke_load(url, int(args[2]), float(args[3])))))
    elif mode == "first-event":
        print(json.dumps(asyncio.run(_first_event(url, int(args[2])))))
    elif mode == "ws":
        _more_files()
        asyncio.run(_idle_websockets(url, int(args[2]), args[3]))


# ---------------------------------------------------------------- orchestration


def load(mode: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"load generator {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="agentspec-server-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AGENTSPEC_STORE": f"sqlite:///{tmp / 'bench.db'}"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentspec.cli",
            "serve",
            str(REPO / "examples" / "quickstart"),
            "--dev",
            "--port",
            str(port),
            "--rate-limit",
            "off",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_more_files,
    )
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(url + "/healthz/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        seconds = "3" if QUICK else "10"
        load("invoke", url, "8", "2")  # warm-up
        rows = []
        for concurrency in (1, 64, 256):
            result = load("invoke", url, str(concurrency), seconds)
            rows.append((concurrency, result))
        first = load("first-event", url, "100" if QUICK else "500")
        before = rss_kib(server.pid)
        marker = tmp / "ws-ready"
        ws_client = subprocess.Popen(
            [sys.executable, __file__, "--child", "ws", url, str(WS_CONNECTIONS), str(marker)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(1200):
            if marker.exists() or ws_client.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(1)
        after = rss_kib(server.pid)
        ws_ok = marker.exists()
        ws_client.kill()
        per_ws = (after - before) / WS_CONNECTIONS if ws_ok else float("nan")
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(
        f"agentspec server · Python {sys.version.split()[0]} · {os.cpu_count()} cores · SQLite event log"
    )
    print("| measure | value | target |")
    print("|---|---|---|")
    for concurrency, result in rows:
        print(
            f"| invoke, concurrency {concurrency} | {result['rps']:,.0f} req/s, p50 {result['p50']:.1f} ms, "
            f"p99 {result['p99']:.1f} ms, {int(result['errors'])} errors | "
            + ("≥ 2,000 req/s, p99 < 20 ms" if concurrency == 64 else "")
            + " |"
        )
    print(
        f"| stream: time to first event | p50 {first['p50']:.2f} ms, p99 {first['p99']:.2f} ms | p99 < 5 ms |"
    )
    print(
        f"| idle WebSocket connections ({WS_CONNECTIONS:,}) | "
        + (f"{per_ws:.1f} KiB each" if ws_ok else "client failed to connect them all")
        + " | ≤ 30 KiB |"
    )


if __name__ == "__main__":
    if "--child" in sys.argv:
        child(sys.argv[sys.argv.index("--child") + 1 :])
    else:
        main()

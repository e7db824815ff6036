"""How long `symbiosis up --demo` takes to be ready, step by step, after the first run.

    .venv/bin/python -m benchmarks.startup [--runs 3]

Runs the README's first command on a data folder of its own (ports of its own, on
127.0.0.1): once to make the database, the broker's log and the demo (not counted: its
downloads are cached in .venv after the very first run on a machine), then ``--runs``
times more, each stopped with Ctrl-C once it is ready. Prints each step's seconds per run,
the ready time, and the machine's load average when each run began (a busy machine is
slower; the target is for a quiet one).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP = re.compile(r"^✓ (?P<title>.+?) \((?P<seconds>[\d.]+) s\)$")
READY = re.compile(r"Ready in (?P<seconds>[\d.]+) s")
REPO = Path(__file__).resolve().parent.parent


def free_block(size: int) -> int:
    import random
    import socket

    for _ in range(200):
        base = random.randint(20_000, 30_000)
        try:
            for port in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports")


def environment(data: Path, port: int, kafka_jit: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBIOSIS_")}
    if kafka_jit:
        env["SYMBIOSIS_EMBEDDED_KAFKA_JIT"] = kafka_jit
    env |= {
        "SYMBIOSIS_DATA_DIR": str(data),
        "SYMBIOSIS_HTTP_PORT": str(port),
        "SYMBIOSIS_EMBEDDED_POSTGRES_PORT": str(port + 6),
        "SYMBIOSIS_EMBEDDED_KAFKA_PORT": str(port + 7),
        "SYMBIOSIS_EMBEDDED_STRIPE_MOCK_PORT": str(port + 8),
        "SYMBIOSIS_EMBEDDED_KAFKA_CONTROLLER_PORT": str(port + 9),
        "SYMBIOSIS_EMBEDDED_SMTP_PORT": str(port + 10),
        "COLUMNS": "300",  # one line per step
    }
    return env


def one_run(env: dict[str, str]) -> tuple[dict[str, float], float, float]:
    """Each step's seconds, the ready time, and the 1-minute load average at the start."""
    load = os.getloadavg()[0]
    process = subprocess.Popen(
        [sys.executable, "-m", "symbiosis", "up", "--demo"],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    steps: dict[str, float] = {}
    ready = float("nan")
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    try:
        for line in process.stdout:
            text = line.strip()
            if found := STEP.match(text):
                steps[re.sub(r" \(.*", "", found["title"]).split(":")[0]] = float(found["seconds"])
            elif found := READY.search(text):
                ready = float(found["seconds"])
                break
            if time.monotonic() > deadline:
                raise RuntimeError("not ready within 300 s")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if ready != ready:
        raise RuntimeError("`symbiosis up` stopped before it was ready")
    return steps, ready, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--kafka-jit",
        choices=("quick", "full"),
        help="How the embedded broker's Java compiles (SYMBIOSIS_EMBEDDED_KAFKA_JIT); "
        "default: as `symbiosis up` runs it",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="symbiosis-startup-"))
    try:
        env = environment(folder / "data", free_block(11), args.kafka_jit)
        _, first_ready, _ = one_run(env)
        print(f"first run (database, broker log and demo made): ready in {first_ready:.1f} s")
        runs = [one_run(env) for _ in range(args.runs)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    titles = list(dict.fromkeys(t for steps, _, _ in runs for t in steps))
    width = max(len(t) for t in titles)
    header = f"{'step':<{width}}" + "".join(f"{f'run {i + 1}':>9}" for i in range(len(runs)))
    print(header)
    for title in titles:
        cells = "".join(f"{steps.get(title, float('nan')):>9.1f}" for steps, _, _ in runs)
        print(f"{title:<{width}}{cells}")
    print(f"{'ready in':<{width}}" + "".join(f"{ready:>9.1f}" for _, ready, _ in runs))
    print(f"{'load average at start':<{width}}" + "".join(f"{load:>9.2f}" for _, _, load in runs))


if __name__ == "__main__":
    main()

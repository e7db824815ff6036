"""The README's first command: `symbiosis up --demo` on the embedded defaults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support import REPO, free_port_block

pytestmark = pytest.mark.e2e


def up_env(data_dir: Path, http_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBIOSIS_")}
    env.update(
        {
            "SYMBIOSIS_DATA_DIR": str(data_dir),
            "SYMBIOSIS_HTTP_PORT": str(http_port),
            "SYMBIOSIS_EMBEDDED_POSTGRES_PORT": str(http_port + 5),
            "SYMBIOSIS_EMBEDDED_KAFKA_PORT": str(http_port + 6),
        }
    )
    return env


def start_up(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "symbiosis", "up", "--demo"],
        env=env,
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_for(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{content}")
        time.sleep(0.3)
    raise AssertionError(f"{text!r} not printed within {timeout}s:\n{log.read_text()}")


def inbox_of(client: httpx.Client, headers: dict[str, str], at_least: int) -> list[Any]:
    deadline = time.monotonic() + 60
    inbox: list[Any] = []
    while time.monotonic() < deadline and len(inbox) < at_least:
        inbox = client.get("/api/notifications/inbox/", headers=headers).json()
        time.sleep(0.5)
    return inbox


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_up_with_demo_proposes_trades_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port_block(7)
    env = up_env(tmp_path / "data", port)
    log = tmp_path / "up.log"
    process = start_up(env, log)
    try:
        output = wait_for(log, "Press Ctrl-C to stop.", process, timeout=180)
        assert f"http://127.0.0.1:{port}" in output
        assert "Tofteberg Datasenter AS" in output
        children = descendants(process.pid)
        assert len(children) >= 6  # postgres, broker, four services, gateway
        keys = json.loads((tmp_path / "data" / "demo-keys.json").read_text())
        bioenergy = {"Authorization": f"Bearer {keys['bioenergi']['api_key']}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            inbox = inbox_of(client, bioenergy, 5)
            titles = sorted(entry["title"] for entry in inbox)
            # the bioenergy plant needs dry wood (sawdust, and broken pallets by the knowledge
            # base; the wet bark fails its 45 % moisture limit) and bark (the bark itself, and
            # sawdust), and offers its bottom ash to the concrete plant
            assert len(titles) == 5, titles
            assert sum("Broken wooden pallets" in t for t in titles) == 1
            assert sum("Bottom ash" in t for t in titles) == 1
            bark = [e for e in inbox if "Spruce and pine bark" in e["title"]]
            assert len(bark) == 1  # only for the bark need: too wet for the wood-chip need
            # the greenhouse is offered the data centre's heat and the biogas plant's CO2
            greenhouse = {"Authorization": f"Bearer {keys['veksthus']['api_key']}"}
            titles = sorted(e["title"] for e in inbox_of(client, greenhouse, 2))
            assert any("Waste heat" in t for t in titles) and any("CO2" in t for t in titles)
            assert client.get("/api/listings/schema/openapi.json").status_code == 200
            # each proposal says why, with its value and the CO2e basis
            proposals = client.get("/api/matching/proposals/", headers=bioenergy).json()
            assert all(p["reasons"] and p["value"]["co2e_basis"] for p in proposals)
            # the park administrator sees the optimiser's plan beside the pairwise proposals
            assert "Park administrator: admin@vikenpark.example" in " ".join(output.split())
            admin = keys["park_admin"]
            token = client.post("/api/listings/auth/token", json=admin).json()["access_token"]
            plan = client.post(
                "/api/matching/optimisations/",
                json={"objective": "mix", "carbon_price_nok_per_t": 1000},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            assert plan["report"]["status"] == "optimal" and plan["report"]["plan"]["flows"]
            assert plan["pairwise"]["open_proposals"] >= 5
            assert plan["better_than_greedy"]["objective"] >= -1e-6
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    assert process.returncode == 0
    assert "Stopped." in log.read_text()
    time.sleep(0.5)
    assert all(
        not child.is_running() or child.status() == psutil.STATUS_ZOMBIE for child in children
    )
    # the data stays: a second run finds the demo already loaded and reuses the keys
    process = start_up(env, log)
    try:
        wait_for(log, "Press Ctrl-C to stop.", process, timeout=120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert len(client.get("/api/notifications/inbox/", headers=bioenergy).json()) == 5
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def test_a_crashed_up_leaves_no_orphans_and_no_lock(tmp_path: Path) -> None:
    port = free_port_block(7)
    env = up_env(tmp_path / "data", port)
    log = tmp_path / "up.log"
    process = start_up(env, log)
    try:
        wait_for(log, "Press Ctrl-C to stop.", process, timeout=180)
        children = descendants(process.pid)
    finally:
        process.kill()  # SIGKILL: no chance to clean up
        process.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children
    ):
        time.sleep(0.3)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    process = start_up(env, log)  # no stale lock, no stale postmaster.pid
    try:
        wait_for(log, "Press Ctrl-C to stop.", process, timeout=120)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def test_a_port_in_use_gives_a_clear_message(tmp_path: Path) -> None:
    port = free_port_block(7)
    with closing(socket.socket()) as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = subprocess.run(
            [sys.executable, "-m", "symbiosis", "up"],
            env=up_env(tmp_path / "data", port),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

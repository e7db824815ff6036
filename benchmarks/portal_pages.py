"""How fast the portal serves each of its pages at the demo's size (target: under 300 ms).

    .venv/bin/python -m benchmarks.portal_pages [--rounds 20]

Runs `symbiosis up --demo` on a data folder and ports of its own (127.0.0.1; the ports in
SYMBIOSIS_HTTP_PORT and SYMBIOSIS_EMBEDDED_*_PORT when they are set), signs in through the
portal's own form as a demo company's administrator and as the park administrator, and asks
the gateway for every page each of them has (the list pages; one listing and its edit form,
negotiation, contract and invoice found on them; what the pickers fetch as a person types;
and the pages of people not signed in), one after the other: once to warm up (not counted),
then ``--rounds`` times. Prints each page's median, p95 and slowest time to the whole HTML
answer, the CPU time the stack's services spent on it (less dependent on the machine's
load), and the pages whose p95 is over the target. The load average at the start and the
end is printed too: a busy machine is slower.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.startup import REPO, environment, free_block

TARGET_MS = 300.0
COMPANY_PAGES = [
    "/listings",
    "/listings/new",
    "/search",
    "/proposals",
    "/contracts",
    "/invoices",
    "/report",
    "/inbox",
    "/company",
    "/settings",
    "/settings/profile",
    "/settings/sharing",
    "/suggestions",
    "/webhooks",
    # what the pickers fetch as a person types (htmx fragments)
    "/waste-codes?q=sagflis",
    "/nace-codes?q=16.1",
]
ADMIN_PAGES = [
    "/dashboard",
    "/partners",
    "/report",
    "/uncovering",
    "/console/system",
    "/console/companies",
    "/console/people",
    "/console/plans",
    "/permits",
    "/audit",
]
# The pages of people not signed in.
ANONYMOUS_PAGES = ["/sign-in", "/sign-up", "/join", "/confirm"]
# One of each kind of detail page, found as a link on a list page.
DETAILS = {
    "/listings": re.compile(r'href="(/listings/[0-9a-f-]{36})"'),
    "/proposals": re.compile(r'href="(/negotiations/[0-9a-f-]{36})"'),
    "/contracts": re.compile(r'href="(/contracts/[0-9a-f-]{36})"'),
    "/invoices": re.compile(r'href="(/invoices/[0-9a-f-]{36})"'),
}


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "symbiosis", "up", "--demo"],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    for line in process.stdout:
        if "Press Ctrl-C to stop." in line:
            # keep reading what it prints, or a full pipe would stop it
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("`symbiosis up --demo` was not ready within 300 s")


def signed_in(url: str, email: str, password: str) -> httpx.Client:
    """A client with the portal's session, signed in through the sign-in form."""
    client = httpx.Client(base_url=url, timeout=30, headers={"Accept-Language": "nb"})
    client.get("/sign-in").raise_for_status()
    token = client.cookies.get("csrftoken") or ""
    answer = client.post(
        "/sign-in", data={"email": email, "password": password, "_csrf_token": token}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {email} answered {answer.status_code}")
    return client


def with_details(client: httpx.Client, pages: list[str]) -> list[str]:
    found = list(pages)
    for page, link in DETAILS.items():
        if page in pages and (match := link.search(client.get(page).text)):
            found.append(match[1])
            if page == "/listings":
                found.append(f"{match[1]}/edit")
    return found


def service_processes(root: int) -> list[int]:
    """The stack's own Python processes under `symbiosis up` (the services, the portal and
    the gateway; not the broker or the database), by their /proc entries."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"symbiosis" in command and {b"serve", b"portal", b"gateway"} & set(command):
                found.append(child)
    return found


def cpu_ms(pids: list[int]) -> float:
    """CPU time (user and system) these processes have used so far, in milliseconds."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def timed(client: httpx.Client, page: str) -> float:
    began = time.perf_counter()
    answer = client.get(page)
    elapsed = (time.perf_counter() - began) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"{page} answered {answer.status_code}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="symbiosis-portal-pages-"))
    port = free_block(11)
    env = environment(folder / "data", port)
    # Ports the caller was given (SYMBIOSIS_HTTP_PORT, SYMBIOSIS_EMBEDDED_*_PORT) are kept.
    env |= {
        k: v for k, v in os.environ.items() if k.startswith("SYMBIOSIS_") and k.endswith("_PORT")
    }
    port = int(env["SYMBIOSIS_HTTP_PORT"])
    load = os.getloadavg()[0]
    process = start(env)
    try:
        url = f"http://127.0.0.1:{port}"
        keys = json.loads((folder / "data" / "demo-keys.json").read_text())
        company = keys["sagbruk"]["admin"]
        admin = keys["park_admin"]
        time.sleep(10)  # the demo's proposals become negotiations a little after `up`
        anonymous = httpx.Client(base_url=url, timeout=30, headers={"Accept-Language": "nb"})
        who = [
            ("company", signed_in(url, company["email"], company["password"]), COMPANY_PAGES),
            ("park", signed_in(url, admin["email"], admin["password"]), ADMIN_PAGES),
            ("anonymous", anonymous, ANONYMOUS_PAGES),
        ]
        times: dict[str, list[float]] = {}
        cpu: dict[str, float] = {}
        stack = service_processes(process.pid)
        for role, client, pages in who:
            pages = with_details(client, pages)
            for page in pages:
                timed(client, page)  # warm-up
            for _ in range(args.rounds):
                for page in pages:
                    name = f"{role} {page}"
                    used = cpu_ms(stack)
                    times.setdefault(name, []).append(timed(client, page))
                    cpu[name] = cpu.get(name, 0.0) + cpu_ms(stack) - used
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    width = max(len(name) for name in times)
    print(
        f"load average at start: {load:.2f}, at the end: {os.getloadavg()[0]:.2f}; "
        f"{args.rounds} rounds; milliseconds; cpu: the services' CPU time per request "
        f"(all {len(stack)} of their processes, in 10 ms ticks, averaged), which the load "
        "changes far less than the wall clock"
    )
    print(f"{'page':<{width}} {'median':>8} {'p95':>8} {'slowest':>8} {'cpu':>8}")
    slow = []
    for name, values in times.items():
        values.sort()
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(
            f"{name:<{width}} {statistics.median(values):>8.1f} {p95:>8.1f} {values[-1]:>8.1f}"
            f" {cpu[name] / len(values):>8.1f}"
        )
        if p95 >= TARGET_MS:
            slow.append(name)
    print(f"over {TARGET_MS:.0f} ms at p95: {', '.join(slow) if slow else 'none'}")


if __name__ == "__main__":
    main()

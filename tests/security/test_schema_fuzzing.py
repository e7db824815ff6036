"""Schema fuzzing (issue 15, finding 5 and "schema fuzzing in CI"): schemathesis generates
requests from every service's OpenAPI document and sends them to a running stack of our
own, as a company's administrator and as a park administrator; not one answer may be a
server error or a status code the document does not list.

Bounded: a few examples per operation (``SYMBIOSIS_FUZZ_EXAMPLES``, 3 by default), as
both callers. The boundary values of schemathesis's coverage phase (about 50 requests an
operation, nine in ten of the requests) are sent as the company's administrator only: what
they try (paths, queries and bodies at and past their limits) is refused or accepted by
validation that runs before a handler asks who calls; the park administrator's handlers get
the explicit and random examples. Two runs go at a time, each against another service where
it can. The counts (operations, requests, failures) are printed and written to
``test-artifacts/schema-fuzzing.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import SERVICES
from tests.conftest import STRIPE_API_KEY, MailDrop, create_database
from tests.security.probes import company_with_admin, park_admin_token
from tests.support import REPO, Infra, Stack, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("SYMBIOSIS_FUZZ_EXAMPLES", "3"))
# Signing out would end the fuzzer's own credential (tests/security/test_revocation.py
# tests it); everything else is fuzzed.
NOT_FUZZED = ("sign_out",)


@pytest.fixture(scope="module")
async def fuzz_database(infra: Infra) -> str:
    return await create_database(infra)


@pytest.fixture(scope="module")
def fuzz_stack(
    infra: Infra,
    fuzz_database: str,
    stripe_mock: str,
    mail_drop: tuple[MailDrop, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """A stack of its own: what the fuzzer creates and tries must not meet other tests."""
    env = {
        "SYMBIOSIS_STRIPE_API_KEY": STRIPE_API_KEY,
        "SYMBIOSIS_STRIPE_API_BASE": stripe_mock,
        "SYMBIOSIS_STRIPE_WEBHOOK_SECRET": "whsec_fuzzing_stack_secret",
        "SYMBIOSIS_SMTP_HOST": "127.0.0.1",
        "SYMBIOSIS_SMTP_PORT": str(mail_drop[1]),
        "SYMBIOSIS_SMTP_STARTTLS": "false",
    }
    with running_stack(
        infra, fuzz_database, tmp_path_factory.mktemp("fuzz"), extra_env=env
    ) as stack:
        yield stack


def schemathesis_command() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is not installed: run `make setup`", pytrace=False)
    return found


# An event stream (the inbox's live stream, which never ends) is read up to its first event
# (the unread count): its status code and headers, all that the checks read, come before
# it. Reading on, schemathesis waited for the whole --request-timeout (30 s) on each stream
# it opened: three streams, 90 s of the company administrator's run on notifications.
SCHEMATHESIS_CONFIG = "max-stream-events = 1\n"

ALL_PHASES = "examples,coverage,fuzzing"
# Per caller: the phases it runs (see the module's docstring).
CALLERS = {"company admin": ALL_PHASES, "park administrator": "examples,fuzzing"}


def fuzz(
    stack: Stack, service: str, token: str, workdir: Path, phases: str = ALL_PHASES
) -> dict[str, Any]:
    """One schemathesis run against one service's document; its JSON report."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    command = [
        schemathesis_command(),
        "--config-file",
        str(config),
        "run",
        f"{stack.url}/api/{service}/schema/openapi.json",
        "--url",
        stack.url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error,status_code_conformance",
        "--phases",
        phases,
        "--max-examples",
        str(EXAMPLES),
        # One worker: with two, Hypothesis (inside schemathesis) now and then fails in its
        # own threads ("AST constructor recursion depth mismatch"), an error of the tool.
        "--workers",
        "1",
        "--seed",
        "1515",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-dir",
        str(workdir),
        *(arg for name in NOT_FUZZED for arg in ("--exclude-operation-id", name)),
    ]
    ran = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=600, check=False
    )
    reports = sorted(workdir.glob("json-*.json"))
    assert reports, f"schemathesis wrote no report:\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(reports[-1].read_text())
    report["output"] = ran.stdout
    return report


async def test_no_server_error_and_no_undocumented_status_anywhere(
    fuzz_stack: Stack, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=fuzz_stack.url, timeout=15) as client:
        company = await company_with_admin(client, "Fuzzed Company AS")
    tokens = {
        "company admin": company["token"],
        "park administrator": park_admin_token(fuzz_stack),
    }
    # the longest runs first (listings has the most operations, and argon2 on every
    # registration), each caller's in turn, so that two runs seldom wait on one service
    order = sorted(SERVICES, key=lambda service: service != "listings")
    plan = [(caller, service) for caller in CALLERS for service in order]

    def one(caller: str, service: str) -> dict[str, Any]:
        workdir = tmp_path / caller.replace(" ", "-") / service
        report = fuzz(fuzz_stack, service, tokens[caller], workdir, CALLERS[caller])
        return {
            "service": service,
            "as": caller,
            "phases": CALLERS[caller],
            "operations": report["operations"]["tested"],
            "requests": report["test_cases"]["generated"],
            "failures": report["test_cases"]["with_failures"],
            "errors": report["test_cases"]["errored"] + len(report["errors"]),
            "found": [*report["failures"], *report["errors"]],
            "output": (
                report["output"][-4000:]
                if report["failures"] or report["errors"] or report["test_cases"]["errored"]
                else ""
            ),
        }

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda job: one(*job), plan))
    totals = {
        key: sum(run[key] for run in runs)
        for key in ("operations", "requests", "failures", "errors")
    }
    summary = {"examples_per_operation": EXAMPLES, "totals": totals, "runs": runs}
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "schema-fuzzing.json").write_text(json.dumps(summary, indent=2, default=str))
    for run in runs:
        print(
            f"schemathesis {run['service']:>13} as {run['as']:<18} ({run['phases']}): "
            f"{run['operations']:3} operations, {run['requests']:5} requests, "
            f"{run['failures']} failures"
        )
    print(f"schemathesis in all: {totals}")
    assert totals["operations"] > 0 and totals["requests"] > 0
    problems = [
        f"{run['service']} as {run['as']}: {run['found']}\n{run['output']}"
        for run in runs
        if run["failures"] or run["errors"]
    ]
    assert not problems, "\n\n".join(problems)

"""Every pod of infra/k8s, run here as its manifest says, becomes ready.

No cluster: each Deployment's container runs as a process with exactly the environment its
manifest gives it (its ConfigMaps, its literal variables, its Secrets' keys), its mounts
laid out as folders (the Secret volumes with only the items the manifest projects, the
emptyDirs empty), and its command line, with two changes a cluster would not need: the
address it binds is the loopback on a free port (so nothing else reaches it), and the Kafka
namespace of the test, which the principal's name carries as a user of a namespace must
give it. Then the manifest's own probes are asked: startup and liveness answer, and
readiness (/health) reaches 200 once the database and the broker are there; the gateway
serves the services and the portal through the Services' names as the ConfigMap gives them
(mapped to the loopback ports).

This proves the manifests give each process what it needs (no missing variable, Secret key
or mount), not that a cluster runs them: the schemas and the rest are tests/unit/test_k8s.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.listings.config import ListingsSettings
from shared.auth import ensure_signing_keys
from shared.settings import ENV_PREFIX, PORTAL, SERVICES
from tests.conftest import create_database
from tests.support import REPO, Infra, free_port_block, run_sync
from tests.unit.test_k8s import of_kind, rendered

# Six processes start side by side, each migrating or waiting for its topics.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

Obj = dict[str, Any]
ORDER = (*SERVICES, PORTAL, "gateway")


def _secret_values(
    database_url: str, kafka_passwords: Path, signing_keys: Path
) -> dict[str, dict[str, str]]:
    """What the Secrets docs/scaling.md lists would hold (the optional ones left out)."""
    return {
        "symbiosis-database": dict.fromkeys(SERVICES, database_url),
        "symbiosis-kafka-credentials": {
            p.name: p.read_text() for p in kafka_passwords.iterdir() if p.is_file()
        },
        "symbiosis-token-signing": {
            "token-signing.pem": (signing_keys / "token-signing.pem").read_text(),
            "token-signing.pub.pem": (signing_keys / "token-signing.pub.pem").read_text(),
        },
        "symbiosis-portal": {"session-secret": uuid.uuid4().hex + uuid.uuid4().hex},
    }


def _pod(
    deployment: Obj, objects: list[Obj], secrets: dict[str, dict[str, str]], root: Path
) -> tuple[list[str], dict[str, str], Obj]:
    """The argv and environment of the Deployment's container, its mounts made under root."""
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        folder = root / mount["name"]
        folder.mkdir(parents=True)
        volume = volumes[mount["name"]]
        if "secret" in volume:
            data = secrets[volume["secret"]["secretName"]]
            items = volume["secret"].get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                assert item["key"] in data, f"Secret {volume['secret']['secretName']} lacks {item}"
                (folder / item["path"]).write_text(data[item["key"]])
        else:
            assert "emptyDir" in volume, volume
        mounts[mount["mountPath"]] = str(folder)

    def in_pod(value: str) -> str:
        for path, folder in sorted(mounts.items(), key=lambda m: -len(m[0])):
            if value == path or value.startswith(path + "/"):
                return folder + value[len(path) :]
        return value

    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    maps = of_kind(objects, "ConfigMap")
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        value = secrets.get(ref["name"], {}).get(ref["key"])
        if value is None:
            assert ref.get("optional"), f"{item['name']}: no Secret {ref} and it is not optional"
            continue
        env[item["name"]] = value
    env = {k: in_pod(v) if k.startswith(ENV_PREFIX) else v for k, v in env.items()}
    return [str(a) for a in container["args"]], env, container


@pytest.fixture
def pods(infra: Infra, tmp_path: Path) -> Iterator[dict[str, tuple[int, Obj, Path]]]:
    """Each Deployment's process: its port here, its container and its log."""
    objects = rendered()
    database_url = run_sync(create_database(infra))
    namespace = f"k{uuid.uuid4().hex[:10]}."
    passwords = tmp_path / "kafka-passwords"
    infra.provision(namespace, passwords)
    shutil.copy(infra.kafka_admin_credentials / "admin", passwords / "admin")
    ensure_signing_keys(ListingsSettings(data_dir=tmp_path / "signing"))
    secrets = _secret_values(database_url, passwords, tmp_path / "signing" / "keys")
    deployments = of_kind(objects, "Deployment")
    first = free_port_block(len(deployments))
    ports = {name: first + i for i, name in enumerate(ORDER)}
    # The Services' names, as the ConfigMap's URLs use them, are the loopback ports here.
    services = {f"http://{name}:8000": f"http://127.0.0.1:{port}" for name, port in ports.items()}
    started: dict[str, tuple[int, Obj, Path]] = {}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name in ORDER:
            argv, env, container = _pod(deployments[name], objects, secrets, tmp_path / name)
            env[f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS"] = infra.kafka_bootstrap
            env[f"{ENV_PREFIX}KAFKA_NAMESPACE"] = namespace
            if f"{ENV_PREFIX}KAFKA_USERNAME" in env:
                env[f"{ENV_PREFIX}KAFKA_USERNAME"] = namespace + env[f"{ENV_PREFIX}KAFKA_USERNAME"]
            for key in (f"{ENV_PREFIX}SERVICE_URLS", f"{ENV_PREFIX}PORTAL_URL"):
                if key in env:
                    for service_url, local in services.items():
                        env[key] = env[key].replace(service_url, local)
            assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - in the pod
            argv[argv.index("--host") + 1] = "127.0.0.1"
            argv[argv.index("--port") + 1] = str(ports[name])
            log = tmp_path / f"{name}.log"
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "symbiosis", *argv],
                    env=env,
                    cwd=REPO,
                    stdout=log.open("ab"),
                    stderr=subprocess.STDOUT,
                )
            )
            started[name] = (ports[name], container, log)
        yield started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


HTTP = httpx.Client()


def _probe(port: int, probe: Obj, deadline: float) -> httpx.Response | None:
    url = f"http://127.0.0.1:{port}{probe['httpGet']['path']}"
    last = None
    while time.monotonic() < deadline:
        try:
            last = HTTP.get(url, timeout=probe.get("timeoutSeconds", 1))
        except httpx.TransportError:
            last = None
        if last is not None and last.status_code == 200:
            return last
        time.sleep(0.5)
    return last


def test_each_pod_becomes_ready_as_its_manifest_runs_it(
    pods: dict[str, tuple[int, Obj, Path]],
) -> None:
    for name in ORDER:
        port, container, log = pods[name]
        startup = container["startupProbe"]
        # the time the manifest allows a pod to start
        allowed = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
        answer = _probe(port, startup, time.monotonic() + allowed)
        tail = log.read_text()[-3000:] if log.exists() else ""
        assert answer is not None and answer.status_code == 200, (
            f"{name} did not start within {allowed} s: {answer}\n{tail}"
        )
        live = _probe(port, container["livenessProbe"], time.monotonic() + 10)
        assert live is not None and live.status_code == 200, f"{name}: liveness {live}"
        ready = _probe(port, container["readinessProbe"], time.monotonic() + 120)
        assert ready is not None and ready.status_code == 200, (
            f"{name} never ready: {ready and ready.text}\n{log.read_text()[-3000:]}"
        )
        if name in SERVICES:
            report = ready.json()
            assert report["service"] == name and report["status"] == "ok", report
            joined = {(g["group"], g["topic"]) for g in report["checks"]["consumers"]["groups"]}
            assert joined, f"{name} joined no consumer group"
    # The gateway reaches each service and the portal through the ConfigMap's URLs.
    gateway = pods["gateway"][0]
    for service in SERVICES:
        answer = HTTP.get(f"http://127.0.0.1:{gateway}/api/{service}/health", timeout=10)
        assert answer.status_code == 200, (service, answer.text)
    page = HTTP.get(f"http://127.0.0.1:{gateway}/health", timeout=10)
    assert page.status_code == 200 and json.loads(page.text)["service"] == PORTAL

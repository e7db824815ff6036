"""The Kubernetes manifests (infra/k8s) are valid and agree with the code, without a cluster.

Each kustomization is rendered the way `kubectl kustomize` renders it (only what these
manifests use: `resources`, files and directories; any other key fails here rather than
render differently), and every object is validated:

- against the Kubernetes JSON schemas that the PyPI package kubernetes-validate ships per
  Kubernetes version, strictly (an unknown field is an error, as `kubectl apply` says);
- KEDA's ScaledObject and TriggerAuthentication against the OpenAPI schemas of KEDA's own
  CRDs, vendored in infra/k8s/schemas/ (KEDA 2.18.3, Apache-2.0), also strictly; the Kafka
  trigger's metadata, which the CRD leaves as a free map, against the keys KEDA's Kafka
  scaler reads (derived from its source, pkg/scalers/kafka_scaler.go of that version).

Then against the code: every service has a Deployment running the CLI command it would run;
every SYMBIOSIS_ variable named is a setting and its value passes the settings' validation;
probes point at a port the container exposes and a path the app routes; the scaling
triggers name exactly the consumer groups and topics the services subscribe; no service
may scale past the partitions of its topics; Secrets are referenced, never committed.

Each check is a function returning its problems, so the tests below also break a copy of
the manifests and show that the check says so.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import shlex
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import kubernetes_validate
import pytest
import typer.main
import yaml
from faststream.kafka import KafkaBroker
from litestar.testing import TestClient

from services.listings.config import ListingsSettings
from shared.auth import ensure_signing_keys
from shared.revocations import subscribe_revocations
from shared.settings import ENV_PREFIX, PORTAL, SERVICES, Settings
from shared.topology import TOPOLOGY
from symbiosis.cli import app as cli_app
from symbiosis.config import SETTINGS_OF, GatewaySettings, variables
from symbiosis.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
KEDA_SCHEMAS = K8S / "schemas" / "keda-2.18.3"
# The oldest Kubernetes these manifests are for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", "1.37")
# What the image runs as (infra/Dockerfile).
IMAGE_USER = 10001
GATEWAY = "gateway"
CONFIG_MAP = "symbiosis-services"  # the Kafka settings of the services
KUSTOMIZATIONS = ("", "base", "kafka-setup")

Obj = dict[str, Any]


# --- Rendering ------------------------------------------------------------------------------


class RenderError(Exception):
    pass


# The part of kustomize these manifests use. Anything else would render differently here
# than under `kubectl apply -k`: teach render() first.
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources"}


def render(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize directory` prints (for the keys above)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = sorted(set(kustomization) - KUSTOMIZATION_KEYS)
    if unknown:
        raise RenderError(f"{directory}/kustomization.yaml uses {unknown}, which render() lacks")
    if kustomization.get("kind") != "Kustomization":
        raise RenderError(f"{directory}/kustomization.yaml is not a Kustomization")
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            objects += render(path)
        elif path.is_file():
            if not path.is_relative_to(directory.resolve()):
                raise RenderError(f"{directory}: kustomize refuses the file {entry} outside it")
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        else:
            raise RenderError(f"{directory}: resource {entry} does not exist")
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj.get("kind", "?"), obj.get("metadata", {}).get("name", "?"))
        if key in seen:
            raise RenderError(f"{directory}: {key[0]}/{key[1]} is defined twice")
        seen.add(key)
    return objects


@cache
def _rendered(kustomization: str) -> tuple[Obj, ...]:
    return tuple(render(K8S / kustomization if kustomization else K8S))


def rendered(kustomization: str = "") -> list[Obj]:
    """A fresh copy, for a test to break at will."""
    return copy.deepcopy(list(_rendered(kustomization)))


def everything() -> list[Obj]:
    """Every object of every kustomization, once."""
    objects = {}
    for kustomization in KUSTOMIZATIONS:
        for obj in rendered(kustomization):
            objects[(obj["kind"], obj["metadata"]["name"])] = obj
    return list(objects.values())


def name(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def of_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def pod_specs(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for obj in objects:
        if obj.get("kind") in ("Deployment", "Job"):
            yield obj, obj["spec"]["template"]["spec"]


# --- Schemas --------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """A CRD's schema as the API server's strict field validation applies it: an object
    with declared properties takes no others."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> a validator of KEDA's vendored CRD schema."""
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(KEDA_SCHEMAS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "labels": {"type": "object"}},
                "additionalProperties": False,
            }
            validator = jsonschema.Draft7Validator(schema)
            validators[(f"{group}/{version['name']}", kind)] = validator
    return validators


# The trigger metadata KEDA 2.18.3's Kafka scaler reads (pkg/scalers/kafka_scaler.go); the CRD
# types it as a map of strings, so the CRD alone would take a misspelt key.
KAFKA_TRIGGER_KEYS = {
    "bootstrapServers",
    "bootstrapServersFromEnv",
    "consumerGroup",
    "consumerGroupFromEnv",
    "topic",
    "topicFromEnv",
    "partitionLimitation",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "excludePersistentLag",
    "version",
    "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "sasl",
    "saslTokenProvider",
    "tls",
    "unsafeSsl",
    "awsRegion",
}
KAFKA_AUTH_PARAMETERS = {"sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword"}


def _kafka_trigger_problems(obj: Obj) -> list[str]:
    problems = []
    for trigger in obj.get("spec", {}).get("triggers", []):
        if trigger.get("type") != "kafka":
            continue
        meta = trigger.get("metadata", {})
        where = f"{name(obj)} trigger {trigger.get('name')}"
        unknown = sorted(set(meta) - KAFKA_TRIGGER_KEYS)
        if unknown:
            problems.append(f"{where}: KEDA's Kafka scaler reads no {unknown}")
        for one_of in ("bootstrapServers", "consumerGroup", "topic"):
            if not (meta.get(one_of) or meta.get(f"{one_of}FromEnv")):
                problems.append(f"{where}: needs {one_of} or {one_of}FromEnv")
        for number in ("lagThreshold", "activationLagThreshold"):
            if number in meta and not re.fullmatch(r"\d+", str(meta[number])):
                problems.append(f"{where}: {number} must be a whole number, not {meta[number]!r}")
        if meta.get("sasl", "scram_sha512") not in (
            "none",
            "plaintext",
            "scram_sha256",
            "scram_sha512",
        ):
            problems.append(f"{where}: sasl {meta['sasl']!r} is not one KEDA knows")
        if meta.get("tls", "disable") not in ("enable", "disable"):
            problems.append(f"{where}: tls must be enable or disable")
    return problems


def schema_problems(objects: list[Obj], version: str) -> list[str]:
    problems = []
    for obj in objects:
        if not obj.get("metadata", {}).get("name"):
            problems.append(f"{name(obj)}: no metadata.name")
            continue
        crd = crd_validators().get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if crd is not None:
            for error in crd.iter_errors(obj):
                path = ".".join(str(p) for p in error.absolute_path)
                problems.append(f"{name(obj)}: {path}: {error.message}")
            problems += _kafka_trigger_problems(obj)
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{name(obj)}: {path}: {exc.message} (Kubernetes {version})")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name(obj)}: no schema for {obj.get('apiVersion')} in {version}")
    return problems


# --- What the code says ---------------------------------------------------------------------


@cache
def known_variables() -> frozenset[str]:
    """Every variable some process of the exchange reads."""
    return frozenset(name for cls in SETTINGS_OF.values() for name in variables(cls))


def process_of(container: Obj) -> str | None:
    """Which process of symbiosis.config.SETTINGS_OF a container runs."""
    try:
        subcommand, params = _cli_args(container)
    except Exception:  # any refusal of the command line: deployment_problems names it
        return None
    return str(params["service"]) if subcommand == "serve" else subcommand


@cache
def subscriptions(service: str) -> frozenset[tuple[str, str]]:
    """(consumer group, topic) of every consumer the service registers (no broker needed)."""
    broker = KafkaBroker("127.0.0.1:9")
    handlers = importlib.import_module(f"services.{service}.handlers")
    settings = SETTINGS_OF[service]()
    subscribe_revocations(
        broker,
        None,  # type: ignore[arg-type]
        settings,
        service,
        lambda: handlers.register(broker, None, settings),
    )
    pairs = set()
    for subscriber in broker.subscribers:
        for topic in subscriber.topics:
            pairs.add((str(subscriber.group_id), str(getattr(topic, "name", topic))))
    return frozenset(pairs)


def _cli_args(container: Obj) -> tuple[str, dict[str, Any]]:
    args = [str(a) for a in container.get("command", []) + container.get("args", [])]
    commands = getattr(typer.main.get_command(cli_app), "commands", {})
    subcommand, *rest = args or [""]
    if subcommand not in commands:
        raise ValueError(f"runs `symbiosis {shlex.join(args)}`: no such command")
    ctx = commands[subcommand].make_context(subcommand, list(rest))
    return subcommand, dict(ctx.params)


def serves(deployment: Obj) -> str:
    """What a Deployment runs: a service's name, `portal` or `gateway`."""
    subcommand, params = _cli_args(deployment["spec"]["template"]["spec"]["containers"][0])
    return str(params["service"]) if subcommand == "serve" else subcommand


def served_or_none(deployment: Obj) -> str | None:
    """What a Deployment runs, or None when the CLI refuses its command (which
    deployment_problems names)."""
    try:
        return serves(deployment)
    except Exception:  # any refusal of the command line
        return None


def config_map(objects: list[Obj]) -> dict[str, str]:
    return {k: str(v) for k, v in of_kind(objects, "ConfigMap")[CONFIG_MAP]["data"].items()}


def partitions(objects: list[Obj]) -> int:
    value = config_map(objects).get(f"{ENV_PREFIX}KAFKA_TOPIC_PARTITIONS")
    return int(value) if value else int(Settings.model_fields["kafka_topic_partitions"].default)


# --- Consistency checks ---------------------------------------------------------------------


def deployment_problems(objects: list[Obj]) -> list[str]:
    problems = []
    deployments = of_kind(objects, "Deployment")
    served: dict[str, str] = {}
    for deployment_name, deployment in deployments.items():
        try:
            served[serves(deployment)] = deployment_name
        except Exception as exc:  # a command the CLI refuses
            problems.append(f"Deployment/{deployment_name}: {exc}")
            continue
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        _, params = _cli_args(container)
        if params.get("host") != "0.0.0.0":  # noqa: S104 - in a pod
            problems.append(f"Deployment/{deployment_name}: must bind --host 0.0.0.0")
    expected = {*SERVICES, PORTAL, GATEWAY}
    missing = sorted(expected - set(served))
    if missing:
        problems.append(f"no Deployment runs {missing}")
    extra = sorted(set(served) - expected)
    if extra:
        problems.append(f"Deployments run {extra}, which the exchange does not have")
    return problems


def _probes(container: Obj) -> Iterator[tuple[str, Obj]]:
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        if kind in container:
            yield kind, container[kind]


def port_problems(objects: list[Obj]) -> list[str]:
    """Probes and Services reach a port the container exposes, which its command binds."""
    problems = []
    deployments = of_kind(objects, "Deployment")
    for deployment_name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        ports = container.get("ports", [])
        by_name = {p["name"]: p["containerPort"] for p in ports if "name" in p}
        numbers = {p["containerPort"] for p in ports}
        if served_or_none(deployment) is None:
            continue
        _, params = _cli_args(container)
        if params.get("port") not in numbers:
            problems.append(
                f"Deployment/{deployment_name}: binds --port {params.get('port')}, exposes "
                f"{sorted(numbers)}"
            )
        for kind, probe in _probes(container):
            get = probe.get("httpGet")
            if get is None:
                problems.append(f"Deployment/{deployment_name}: {kind} is not an HTTP GET")
                continue
            port = get.get("port")
            if by_name.get(port, port) not in numbers:
                problems.append(
                    f"Deployment/{deployment_name}: {kind} probes port {port!r}, which the "
                    f"container does not expose ({sorted(numbers)})"
                )
        for kind in ("livenessProbe", "readinessProbe"):
            if kind not in container:
                problems.append(f"Deployment/{deployment_name}: no {kind}")
    for service_name, service in of_kind(objects, "Service").items():
        selector = service["spec"].get("selector", {})
        targets = [
            d
            for d in deployments.values()
            if selector and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        if len(targets) != 1:
            problems.append(f"Service/{service_name}: selects {len(targets)} Deployments")
            continue
        container = targets[0]["spec"]["template"]["spec"]["containers"][0]
        exposed = {p.get("name") for p in container.get("ports", [])}
        exposed |= {p["containerPort"] for p in container.get("ports", [])}
        for port in service["spec"]["ports"]:
            if port.get("targetPort", port["port"]) not in exposed:
                problems.append(
                    f"Service/{service_name}: targetPort {port.get('targetPort')!r} is not a "
                    f"port of {name(targets[0])}"
                )
    return problems


@cache
def _routes(what: str, keys: Path) -> Callable[[str], int]:
    """GET a path of the app a Deployment runs, without its database or broker: the status."""
    if what == GATEWAY:
        upstream = GatewaySettings(data_dir=keys)
        gateway = Gateway(upstream.upstreams(), portal=upstream.portal_upstream)

        def get_gateway(path: str) -> int:
            # The gateway answers /api/ itself and sends every other path to a service or
            # the portal: a probe there would say nothing of the gateway.
            if path not in ("/api", "/api/"):
                return 404

            async def call() -> int:
                transport = httpx.ASGITransport(app=gateway)
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                    return (await client.get(path)).status_code

            import asyncio

            return asyncio.run(call())

        return get_gateway
    extra = {"portal_session_secret": "k8s-manifest-test-session-secret-0123456789"}
    settings = SETTINGS_OF[what](data_dir=keys, **(extra if what == PORTAL else {}))
    module = importlib.import_module(f"services.{what}.app")
    litestar_app = module.create_app(settings)
    paths = {route.path for route in litestar_app.routes}

    def get(path: str) -> int:
        if path not in paths:
            return 404
        # The lifespan (database, broker) is not run: a path that needs them fails here,
        # which is what a liveness probe must not do.
        with_client = TestClient(litestar_app, raise_server_exceptions=False)
        return with_client.get(path).status_code

    return get


def probe_path_problems(objects: list[Obj], keys: Path) -> list[str]:
    """Every probe path is a route of its app; liveness answers without a database or
    broker (a liveness probe that failed with them would restart every pod in an outage)."""
    problems = []
    for deployment_name, deployment in of_kind(objects, "Deployment").items():
        what = served_or_none(deployment)
        if what is None:
            continue
        get = _routes(what, keys)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for kind, probe in _probes(container):
            path = probe.get("httpGet", {}).get("path", "/")
            status = get(path)
            if status == 404:
                problems.append(f"Deployment/{deployment_name}: {kind} path {path} is no route")
            elif kind != "readinessProbe" and status != 200:
                problems.append(
                    f"Deployment/{deployment_name}: {kind} {path} answers {status} without "
                    "the database and broker"
                )
        if what in SERVICES:
            ready = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
            if ready != f"/api/{what}/health":
                problems.append(
                    f"Deployment/{deployment_name}: readiness must be /api/{what}/health (503 "
                    f"while it cannot work), not {ready}"
                )
    return problems


def _env_of(container: Obj, objects: list[Obj]) -> dict[str, str | None]:
    """The container's SYMBIOSIS_ variables: a value, or None when it comes from a Secret."""
    env: dict[str, str | None] = {}
    maps = of_kind(objects, "ConfigMap")
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref is not None:
            env.update({k: str(v) for k, v in maps.get(ref, {}).get("data", {}).items()})
    for item in container.get("env", []):
        env[item["name"]] = str(item["value"]) if "value" in item else None
    return env


def env_problems(objects: list[Obj], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SYMBIOSIS_ variable a container is given is one its process reads (each process
    gets only its own, as under `symbiosis up`), and the values pass its settings class."""
    problems = []
    known = known_variables()
    for config_name, config in of_kind(objects, "ConfigMap").items():
        for key in config.get("data", {}):
            if key.startswith(ENV_PREFIX) and key not in known:
                problems.append(f"ConfigMap/{config_name}: {key} is no setting")
    for owner, spec in pod_specs(objects):
        for container in spec["containers"]:
            process = process_of(container)
            if process not in SETTINGS_OF:
                problems.append(f"{name(owner)}: runs {process}, which has no settings class")
                continue
            cls = SETTINGS_OF[process]
            own = variables(cls)
            env = _env_of(container, objects)
            for key in env:
                if not key.startswith(ENV_PREFIX):
                    problems.append(f"{name(owner)}: {key} lacks the {ENV_PREFIX} prefix")
                elif key not in known:
                    problems.append(f"{name(owner)}: {key} is no setting")
                elif key not in own:
                    problems.append(
                        f"{name(owner)}: {key} is not read by {process} ({cls.__name__})"
                    )
            with monkeypatch.context() as patch:
                for key in known:
                    patch.delenv(key, raising=False)
                for key, value in env.items():
                    if value is not None and key in own:
                        patch.setenv(key, value)
                try:
                    cls()
                except Exception as exc:
                    problems.append(f"{name(owner)}: its settings do not validate: {exc}")
    return problems


def scaling_problems(objects: list[Obj]) -> list[str]:
    """Lag triggers name the groups and topics the service really consumes, and nothing
    scales past the partitions of its topics."""
    problems = []
    limit = partitions(objects)
    deployments = of_kind(objects, "Deployment")
    scaled = of_kind(objects, "ScaledObject")
    auths = of_kind(objects, "TriggerAuthentication")
    config = config_map(objects)
    # Topics and groups carry the namespace the services are given (shared/kafka.py).
    prefix = config.get(f"{ENV_PREFIX}KAFKA_NAMESPACE", "")
    protocol = config.get(f"{ENV_PREFIX}KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    wanted_tls = "enable" if protocol == "SASL_SSL" else "disable"
    wanted_sasl = "none" if protocol == "PLAINTEXT" else "scram_sha512"
    targets = {}
    for so_name, so in scaled.items():
        target = so["spec"]["scaleTargetRef"]["name"]
        where = f"ScaledObject/{so_name}"
        if so["spec"]["scaleTargetRef"].get("kind", "Deployment") != "Deployment" or (
            target not in deployments
        ):
            problems.append(f"{where}: scales {target}, which is no Deployment")
            continue
        service = serves(deployments[target])
        targets[service] = so_name
        if service not in SERVICES:
            problems.append(f"{where}: {service} consumes nothing to scale on")
            continue
        most, least = so["spec"].get("maxReplicaCount", 100), so["spec"].get("minReplicaCount", 0)
        if most > limit:
            problems.append(
                f"{where}: maxReplicaCount {most} exceeds the {limit} partitions per topic "
                f"({ENV_PREFIX}KAFKA_TOPIC_PARTITIONS); the extra pods would get no partition"
            )
        if least > most:
            problems.append(f"{where}: minReplicaCount {least} > maxReplicaCount {most}")
        if least < 1:
            problems.append(f"{where}: a service serves HTTP, it must not scale to zero")
        triggers = set()
        container = deployments[target]["spec"]["template"]["spec"]["containers"][0]
        env = _env_of(container, objects)
        # kafka-setup names each service's principal the namespace followed by the service
        username = env.get(f"{ENV_PREFIX}KAFKA_USERNAME")
        if username is not None and username != prefix + service:
            problems.append(
                f"Deployment/{target}: {ENV_PREFIX}KAFKA_USERNAME {username!r} is not the "
                f"principal kafka-setup makes for it ({prefix + service!r})"
            )
        for trigger in so["spec"].get("triggers", []):
            if trigger.get("type") != "kafka":
                continue
            meta = trigger.get("metadata", {})
            if str(meta.get("allowIdleConsumers", "false")).lower() == "true":
                problems.append(f"{where}: allowIdleConsumers would pass the partitions")
            triggers.add((meta.get("consumerGroup"), meta.get("topic")))
            if (meta.get("tls", "disable"), meta.get("sasl", "none")) != (wanted_tls, wanted_sasl):
                problems.append(
                    f"{where}: tls {meta.get('tls')!r} and sasl {meta.get('sasl')!r} do not "
                    f"sign in as the services do ({protocol}: tls {wanted_tls}, sasl {wanted_sasl})"
                )
            source = meta.get("bootstrapServersFromEnv")
            if source is not None and not env.get(source):
                problems.append(f"{where}: {source} is not set in {target}'s container")
            if meta.get("bootstrapServers") and meta["bootstrapServers"] != config.get(
                f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS"
            ):
                problems.append(f"{where}: its brokers differ from the services'")
            auth = trigger.get("authenticationRef", {}).get("name")
            if auth not in auths:
                problems.append(f"{where}: authenticationRef {auth} does not exist")
        consumed = {(prefix + group, prefix + topic) for group, topic in subscriptions(service)}
        for group, topic in sorted(triggers - consumed, key=str):
            problems.append(
                f"{where}: {service} has no consumer group {group!r} on {topic!r} "
                f"(it has {sorted(consumed)})"
            )
        for group, topic in sorted(consumed - triggers):
            problems.append(f"{where}: no lag trigger for {service}'s group {group} on {topic}")
        topics = {prefix + t.value for t in TOPOLOGY[service].consumes}
        for _, topic in triggers:
            if topic not in topics:
                problems.append(f"{where}: {service} does not consume {topic} (shared/topology.py)")
    if scaled:
        unscaled = sorted(set(SERVICES) - set(targets))
        if unscaled:
            problems.append(f"no ScaledObject for {unscaled}")
    for auth_name, auth in auths.items():
        for ref in auth["spec"].get("env", []):
            container_names = {
                c["name"]: c
                for d in deployments.values()
                for c in d["spec"]["template"]["spec"]["containers"]
            }
            container = container_names.get(ref.get("containerName"))
            if container is None or ref["name"] not in _env_of(container, objects):
                problems.append(f"TriggerAuthentication/{auth_name}: {ref['name']} is not set")
        for ref in auth["spec"].get("secretTargetRef", []):
            if ref["parameter"] not in KAFKA_AUTH_PARAMETERS:
                problems.append(
                    f"TriggerAuthentication/{auth_name}: no Kafka parameter {ref['parameter']}"
                )
    for deployment_name, deployment in deployments.items():
        replicas = deployment["spec"].get("replicas", 1)
        if served_or_none(deployment) not in SERVICES:
            continue
        if replicas > limit:
            problems.append(
                f"Deployment/{deployment_name}: {replicas} replicas > {limit} partitions"
            )
        autoscaled = {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()}
        if deployment_name in autoscaled and "replicas" in deployment["spec"]:
            problems.append(
                f"Deployment/{deployment_name}: KEDA sets its replicas; a `replicas` here "
                "would undo its scaling at every apply"
            )
    return problems


def hardening_problems(objects: list[Obj]) -> list[str]:
    """Non-root, no privilege, read-only root, requests and limits, a PodDisruptionBudget."""
    problems = []
    for owner, spec in pod_specs(objects):
        pod = spec.get("securityContext", {})
        if pod.get("runAsNonRoot") is not True or pod.get("runAsUser") != IMAGE_USER:
            problems.append(f"{name(owner)}: must run as the image's user {IMAGE_USER}, non-root")
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name(owner)}: allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{name(owner)}: the root filesystem must be read-only")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{name(owner)}: must drop all capabilities")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(part, {})):
                    problems.append(f"{name(owner)}: needs cpu and memory {part}")
    budgets = of_kind(objects, "PodDisruptionBudget")
    for deployment_name, deployment in of_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"].get("matchLabels", {})
        if not selector.items() <= labels.items():
            problems.append(f"Deployment/{deployment_name}: its selector misses its own pods")
        if not any(
            b["spec"]["selector"]["matchLabels"].items() <= labels.items() for b in budgets.values()
        ):
            problems.append(f"Deployment/{deployment_name}: no PodDisruptionBudget")
    return problems


def secret_problems(objects: list[Obj]) -> list[str]:
    """No Secret is committed; every one referenced is among those docs/scaling.md lists."""
    problems = [f"{name(o)}: a Secret is committed" for o in objects if o.get("kind") == "Secret"]
    docs = (ROOT / "docs" / "scaling.md").read_text()
    for secret in sorted(referenced_secrets(objects)):
        if f"`{secret}`" not in docs:
            problems.append(f"Secret {secret} is referenced but docs/scaling.md does not list it")
    return problems


def referenced_secrets(objects: list[Obj]) -> set[str]:
    found = set()
    for _, spec in pod_specs(objects):
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                found.add(volume["secret"]["secretName"])
        for container in spec["containers"]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    found.add(ref["name"])
    for auth in of_kind(objects, "TriggerAuthentication").values():
        found |= {ref["name"] for ref in auth["spec"].get("secretTargetRef", [])}
    return found


# --- The tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("k8s-keys")
    ensure_signing_keys(ListingsSettings(data_dir=folder))
    return folder


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_renders_as_kubectl_would(kustomization: str) -> None:
    objects = rendered(kustomization)
    assert objects, f"infra/k8s/{kustomization} renders nothing"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_matches_its_schema(version: str) -> None:
    objects = everything()
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Job"} <= kinds
    assert {"ScaledObject", "TriggerAuthentication"} <= kinds
    assert schema_problems(objects, version) == []


def test_the_manifests_agree_with_the_code(keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = rendered()
    assert deployment_problems(objects) == []
    assert port_problems(objects) == []
    assert probe_path_problems(objects, keys) == []
    assert env_problems(everything(), monkeypatch) == []
    assert scaling_problems(objects) == []
    assert hardening_problems(everything()) == []
    assert secret_problems(everything()) == []


def test_without_keda_the_base_is_whole() -> None:
    base = rendered("base")
    assert not of_kind(base, "ScaledObject")
    assert deployment_problems(base) == []
    assert scaling_problems(base) == []


def test_the_kafka_setup_job_runs_the_cli_command() -> None:
    (job,) = of_kind(rendered("kafka-setup"), "Job").values()
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert _cli_args(container)[0] == "kafka-setup"
    env = _env_of(container, rendered("kafka-setup"))
    # It chmods its credentials folder: a folder its user makes in a writable emptyDir, into
    # which the init container copies the Secret (a Secret's mount is root's and read-only).
    folder = Path(str(env[f"{ENV_PREFIX}KAFKA_CREDENTIALS_DIR"]))
    spec = job["spec"]["template"]["spec"]
    empty = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    secrets = {v["name"] for v in spec["volumes"] if "secret" in v}
    assert any(
        m["name"] in empty
        and folder.is_relative_to(m["mountPath"])
        and folder != Path(m["mountPath"])
        for m in container["volumeMounts"]
    ), f"{folder} is not a folder of its own in an emptyDir"
    assert not any(m["name"] in secrets for m in container["volumeMounts"])
    (init,) = spec["initContainers"]
    assert any(m["name"] in secrets for m in init["volumeMounts"])
    assert str(folder) in " ".join(init["command"])


def test_liveness_answers_without_database_or_broker(keys: Path) -> None:
    """/api/<service>/live answers 200 from the process alone, while /health needs the
    lifespan's database and broker (without them here, it cannot answer 200)."""
    for service in SERVICES:
        get = _routes(service, keys)
        assert get(f"/api/{service}/live") == 200
        assert get(f"/api/{service}/health") != 200


def test_docs_and_readme_point_to_the_manifests() -> None:
    scaling = (ROOT / "docs" / "scaling.md").read_text()
    assert "apply -k infra/k8s" in scaling
    assert "not run on a cluster" in scaling
    assert "infra/k8s" in (ROOT / "README.md").read_text()


# --- The checks fail on broken manifests ----------------------------------------------------


def _deployment(objects: list[Obj], which: str) -> Obj:
    return of_kind(objects, "Deployment")[which]


def _container(objects: list[Obj], which: str) -> Obj:
    return _deployment(objects, which)["spec"]["template"]["spec"]["containers"][0]


def test_schema_check_fails_on_a_deployment_without_a_selector() -> None:
    objects = rendered()
    del _deployment(objects, "matching")["spec"]["selector"]
    problems = schema_problems(objects, KUBERNETES_VERSIONS[-1])
    assert any("Deployment/matching" in p and "selector" in p for p in problems), problems


def test_schema_check_fails_on_an_unknown_or_mistyped_field() -> None:
    objects = rendered()
    _container(objects, "listings")["livenessProbe"]["httpGet"]["paht"] = "/x"
    _deployment(objects, "portal")["spec"]["replicas"] = "two"
    problems = schema_problems(objects, KUBERNETES_VERSIONS[-1])
    assert any("Deployment/listings" in p and "paht" in p for p in problems), problems
    assert any("Deployment/portal" in p and "replicas" in p for p in problems), problems


def test_schema_check_fails_on_a_broken_scaled_object() -> None:
    objects = rendered()
    scaled = of_kind(objects, "ScaledObject")["matching"]
    scaled["spec"]["maxReplicas"] = 4  # the HPA's word, not KEDA's
    del scaled["spec"]["scaleTargetRef"]
    scaled["spec"]["triggers"][0]["metadata"]["consumerGroupp"] = "matching"
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = "lots"
    problems = schema_problems(objects, KUBERNETES_VERSIONS[-1])
    assert any("maxReplicas" in p for p in problems), problems
    assert any("scaleTargetRef" in p for p in problems), problems
    assert any("consumerGroupp" in p for p in problems), problems
    assert any("lagThreshold" in p for p in problems), problems


def test_port_check_fails_on_a_probe_at_a_port_not_exposed() -> None:
    objects = rendered()
    _container(objects, "contracts")["readinessProbe"]["httpGet"]["port"] = 8080
    _container(objects, "gateway")["livenessProbe"]["httpGet"]["port"] = "metrics"
    of_kind(objects, "Service")["notifications"]["spec"]["ports"][0]["targetPort"] = 9000
    problems = port_problems(objects)
    assert any("Deployment/contracts: readinessProbe probes port 8080" in p for p in problems)
    assert any("Deployment/gateway: livenessProbe probes port 'metrics'" in p for p in problems)
    assert any("Service/notifications: targetPort 9000" in p for p in problems), problems


def test_port_check_fails_when_the_command_binds_another_port() -> None:
    objects = rendered()
    _container(objects, "portal")["args"][-1] = "8001"
    assert any("binds --port 8001" in p for p in port_problems(objects))


def test_probe_check_fails_on_a_path_the_app_does_not_route(keys: Path) -> None:
    objects = rendered()
    _container(objects, "listings")["readinessProbe"]["httpGet"]["path"] = "/api/listings/ready"
    _container(objects, "matching")["livenessProbe"]["httpGet"]["path"] = "/api/matching/health"
    _container(objects, "gateway")["readinessProbe"]["httpGet"]["path"] = "/healthz"
    problems = probe_path_problems(objects, keys)
    assert any(
        "listings: readinessProbe path /api/listings/ready is no route" in p for p in problems
    )
    # liveness on readiness would restart every pod while the database is away
    assert any("matching: livenessProbe /api/matching/health answers" in p for p in problems)
    assert any("gateway: readinessProbe" in p for p in problems), problems


def test_env_check_fails_on_a_variable_the_settings_do_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = everything()
    of_kind(objects, "ConfigMap")[CONFIG_MAP]["data"]["SYMBIOSIS_KAFKA_BOOTSTRAP"] = "k:9092"
    _container(objects, "contracts")["env"].append({"name": "SYMBIOSIS_STRIPE_KEY", "value": "x"})
    _container(objects, "matching")["env"].append(
        {"name": "SYMBIOSIS_LOG_LEVEL", "value": "CHATTY"}
    )
    # the Stripe key is contracts' alone; the services do not read where the others are
    _container(objects, "matching")["env"].append(
        {
            "name": "SYMBIOSIS_STRIPE_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "symbiosis-stripe", "key": "api-key"}},
        }
    )
    of_kind(objects, "ConfigMap")[CONFIG_MAP]["data"]["SYMBIOSIS_SERVICE_URLS"] = "{}"
    problems = env_problems(objects, monkeypatch)
    assert any("SYMBIOSIS_KAFKA_BOOTSTRAP is no setting" in p for p in problems), problems
    assert any(
        "Deployment/matching: SYMBIOSIS_STRIPE_API_KEY is not read by matching" in p
        for p in problems
    ), problems
    assert any(
        "Deployment/listings: SYMBIOSIS_SERVICE_URLS is not read by listings" in p for p in problems
    ), problems
    assert any("Deployment/contracts: SYMBIOSIS_STRIPE_KEY is no setting" in p for p in problems)
    assert any("Deployment/matching: its settings do not validate" in p for p in problems)


def test_deployment_check_fails_on_a_missing_service_or_a_wrong_command() -> None:
    objects = [o for o in rendered() if name(o) != "Deployment/notifications"]
    _container(objects, "contracts")["args"] = ["serve", "invoices", "--host", "0.0.0.0"]  # noqa: S104
    problems = deployment_problems(objects)
    assert any("no Deployment runs ['contracts', 'notifications']" in p for p in problems)


def test_scaling_check_fails_on_a_group_or_topic_the_code_does_not_consume() -> None:
    objects = rendered()
    triggers = of_kind(objects, "ScaledObject")["contracts"]["spec"]["triggers"]
    triggers[0]["metadata"]["consumerGroup"] = "contract"
    triggers[1]["metadata"]["topic"] = "contracts.events.v1"
    problems = scaling_problems(objects)
    assert any("no consumer group 'contract'" in p for p in problems), problems
    assert any("does not consume contracts.events.v1" in p for p in problems), problems
    assert any("no lag trigger for contracts's group contracts" in p for p in problems)


def test_scaling_check_follows_the_kafka_settings() -> None:
    """A namespace prefixes every group and topic; TLS and SASL as the services sign in."""
    objects = rendered()
    config = of_kind(objects, "ConfigMap")[CONFIG_MAP]["data"]
    config[f"{ENV_PREFIX}KAFKA_NAMESPACE"] = "staging."
    config[f"{ENV_PREFIX}KAFKA_SECURITY_PROTOCOL"] = "SASL_SSL"
    problems = scaling_problems(objects)
    assert any("no consumer group 'matching' on 'listings.events.v1'" in p for p in problems)
    assert any("no lag trigger for matching's group staging.matching" in p for p in problems)
    assert any("ScaledObject/listings: tls 'disable'" in p for p in problems), problems
    assert any(
        "Deployment/matching: SYMBIOSIS_KAFKA_USERNAME 'matching' is not the principal" in p
        for p in problems
    ), problems


def test_scaling_check_fails_past_the_partitions() -> None:
    objects = rendered()
    of_kind(objects, "ScaledObject")["matching"]["spec"]["maxReplicaCount"] = 7
    of_kind(objects, "ScaledObject")["listings"]["spec"]["triggers"][0]["metadata"][
        "allowIdleConsumers"
    ] = "true"
    problems = scaling_problems(objects)
    assert any("maxReplicaCount 7 exceeds the 6 partitions" in p for p in problems), problems
    assert any("ScaledObject/listings: allowIdleConsumers" in p for p in problems), problems
    base = rendered("base")
    _deployment(base, "matching")["spec"]["replicas"] = 12
    assert any("12 replicas > 6 partitions" in p for p in scaling_problems(base))


def test_hardening_and_secret_checks_fail() -> None:
    objects = everything()
    _container(objects, "portal")["securityContext"]["readOnlyRootFilesystem"] = False
    del _container(objects, "matching")["resources"]["limits"]
    _deployment(objects, "gateway")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0
    problems = hardening_problems(objects)
    assert any("Deployment/portal: the root filesystem" in p for p in problems), problems
    assert any("Deployment/matching: needs cpu and memory limits" in p for p in problems)
    assert any("Deployment/gateway: must run as" in p for p in problems), problems
    objects.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leak"}})
    _container(objects, "listings")["env"][0]["valueFrom"]["secretKeyRef"]["name"] = "db-url"
    problems = secret_problems(objects)
    assert "Secret/leak: a Secret is committed" in problems
    assert any("Secret db-url is referenced but docs/scaling.md" in p for p in problems)


def test_render_refuses_what_it_cannot_render(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        json.dumps({"kind": "Kustomization", "resources": [], "patches": []})
    )
    with pytest.raises(RenderError, match="patches"):
        render(tmp_path)

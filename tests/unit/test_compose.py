"""docker-compose.yml and infra/Dockerfile agree with the code (no Docker needed).

The compose file names settings, CLI commands, services and ports as plain strings;
these tests fail, naming the drift, when the code they point at changes.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml

from services.listings.config import ListingsSettings
from shared.settings import ENV_PREFIX, SERVICES
from symbiosis.cli import app
from symbiosis.config import SETTINGS_OF, variables

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"


def _load_compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), f"{COMPOSE_FILE.name} is not a YAML mapping"
    services = data.get("services")
    assert isinstance(services, dict) and services, f"{COMPOSE_FILE.name} has no services"
    return data


COMPOSE = _load_compose()
CONTAINERS: dict[str, dict[str, Any]] = COMPOSE["services"]
# The containers running our own image: they are the ones compose builds.
OWN = sorted(name for name, spec in CONTAINERS.items() if "build" in spec)


def _command(name: str) -> list[str]:
    command = CONTAINERS[name].get("command")
    assert command, f"compose service {name!r} has no command"
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def _environment(name: str) -> dict[str, str]:
    env = CONTAINERS[name].get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _depends_on(name: str) -> list[str]:
    deps = CONTAINERS[name].get("depends_on") or []
    return list(deps)


def _cli_commands() -> dict[str, Any]:
    commands = getattr(typer.main.get_command(app), "commands", None)
    assert isinstance(commands, dict), "symbiosis.cli.app is not a group of commands"
    return commands


def _parse_cli(name: str) -> tuple[str, dict[str, Any]]:
    """The container's subcommand and its parameters as the CLI parses them."""
    subcommand, *args = _command(name)
    commands = _cli_commands()
    assert subcommand in commands, (
        f"compose service {name!r} runs `symbiosis {subcommand}`, but the CLI has only: "
        f"{', '.join(sorted(commands))}"
    )
    try:
        ctx = commands[subcommand].make_context(subcommand, list(args))
    except Exception as exc:
        pytest.fail(
            f"compose service {name!r}: `symbiosis {shlex.join(_command(name))}` "
            f"does not parse: {exc}"
        )
    return subcommand, dict(ctx.params)


def _serving() -> dict[str, tuple[str, int]]:
    """compose service -> (what it serves: a service name or 'gateway', bound port)."""
    served = {}
    for name in OWN:
        subcommand, params = _parse_cli(name)
        if subcommand in ("serve", "gateway"):
            assert params.get("port"), f"compose service {name!r} must pass --port"
            assert params.get("host") == "0.0.0.0", (  # noqa: S104 - in a container
                f"compose service {name!r} must bind --host 0.0.0.0 to be reachable"
            )
            served[name] = (params.get("service", "gateway"), int(params["port"]))
    return served


def test_kafka_runs_apache_kafka_as_symbiosis_up_does() -> None:
    """The official image, with the configuration of the embedded broker (generated into
    infra/kafka/server.properties; test_contract_docs fails when it is stale), its secrets,
    and the partners' TLS listener published."""
    assert "kafka" in CONTAINERS, "compose has no `kafka` service"
    kafka = CONTAINERS["kafka"]
    assert str(kafka.get("image", "")).startswith("apache/kafka:4."), (
        f"kafka must use the official apache/kafka 4.x image, not {kafka.get('image')!r}"
    )
    mounts = [str(v) for v in kafka.get("volumes", [])]
    assert "./infra/kafka/server.properties:/etc/kafka/symbiosis/server.properties:ro" in mounts
    assert "./infra/kafka/start.sh:/etc/kafka/symbiosis/start.sh:ro" in mounts
    assert (ROOT / "infra" / "kafka" / "start.sh").is_file()
    properties = dict(
        line.split("=", 1)
        for line in (ROOT / "infra" / "kafka" / "server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(properties["process.roles"].split(",")) == {"broker", "controller"}
    assert properties["auto.create.topics.enable"] == "false"  # kafka-setup makes them
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    protocols = dict(p.split(":") for p in properties["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) <= {"SASL_PLAINTEXT", "SASL_SSL"}, protocols
    assert protocols["PARTNER"] == "SASL_SSL"
    assert "9094:9094" in [str(p) for p in kafka.get("ports", [])]
    secrets = {str(s) for s in kafka.get("secrets", [])}
    assert {"kafka_admin", "kafka_broker_pem"} <= secrets
    assert kafka.get("healthcheck"), "kafka needs a healthcheck for depends_on"


def test_each_service_gets_only_its_own_kafka_password() -> None:
    declared = COMPOSE.get("secrets") or {}
    for service in SERVICES:
        given = CONTAINERS[service].get("secrets") or []
        assert given == [{"source": f"kafka_{service}", "target": service}], (service, given)
        assert f"kafka_{service}" in declared
        assert _environment(service).get(f"{ENV_PREFIX}KAFKA_CREDENTIALS_DIR") == "/run/secrets"
        assert "kafka-setup" in _depends_on(service)
    setup = {s["target"] for s in CONTAINERS["kafka-setup"]["secrets"]}
    assert setup == {"admin", *SERVICES}
    assert _command("kafka-setup") == ["kafka-setup"]


def test_postgres_has_a_volume_and_a_healthcheck() -> None:
    assert "postgres" in CONTAINERS, "compose has no `postgres` service"
    postgres = CONTAINERS["postgres"]
    assert str(postgres.get("image", "")).startswith("postgres:")
    env = _environment("postgres")
    for key in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"):
        assert env.get(key), f"postgres needs {key}"
    assert postgres.get("volumes"), "postgres needs a volume for its data"
    assert "pg_isready" in str(postgres.get("healthcheck", {}).get("test"))


def test_every_service_has_one_container_and_the_gateway_is_published() -> None:
    served = _serving()
    names = sorted(what for what, _ in served.values() if what != "gateway")
    assert names == sorted(SERVICES), (
        f"compose serves {names}, shared.settings.SERVICES is {sorted(SERVICES)}"
    )
    gateways = [name for name, (what, _) in served.items() if what == "gateway"]
    assert gateways == ["gateway"], f"expected one `gateway` container, found {gateways}"
    port = served["gateway"][1]
    published = [str(p) for p in CONTAINERS["gateway"].get("ports", [])]
    assert any(p.split(":")[-1].split("/")[0] == str(port) for p in published), (
        f"gateway binds port {port} but publishes {published}"
    )


@pytest.mark.parametrize("name", OWN)
def test_command_is_a_cli_command(name: str) -> None:
    subcommand, params = _parse_cli(name)
    if subcommand == "serve":
        assert params["service"] in SERVICES, (
            f"compose service {name!r} serves {params['service']!r}, not one of {SERVICES}"
        )


@pytest.mark.parametrize("name", OWN)
def test_environment_names_only_the_containers_own_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subcommand, params = _parse_cli(name)
    cls = SETTINGS_OF[params["service"] if subcommand == "serve" else subcommand]
    fields = variables(cls)
    env = {k: v for k, v in _environment(name).items() if k.startswith(ENV_PREFIX)}
    unknown = sorted(set(env) - fields)
    assert not unknown, (
        f"compose service {name!r} sets {unknown}, which {cls.__module__}.{cls.__name__} "
        f"does not read (it reads: {sorted(fields)})"
    )
    # The values must also pass the class's own validation, as in the container.
    for key in fields:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cls()


def test_service_urls_point_at_the_services() -> None:
    served = _serving()
    raw = _environment("gateway").get(f"{ENV_PREFIX}SERVICE_URLS")
    assert raw, f"gateway needs {ENV_PREFIX}SERVICE_URLS"
    try:
        urls = json.loads(raw)
    except json.JSONDecodeError as exc:
        pytest.fail(f"gateway's {ENV_PREFIX}SERVICE_URLS is not JSON: {exc}")
    assert isinstance(urls, dict), f"{ENV_PREFIX}SERVICE_URLS must be a JSON object"
    assert sorted(urls) == sorted(SERVICES), (
        f"{ENV_PREFIX}SERVICE_URLS names {sorted(urls)}, SERVICES is {sorted(SERVICES)}"
    )
    for service, url in urls.items():
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname, f"{service}: bad URL {url!r}"
        host = parts.hostname
        assert host in CONTAINERS, f"{service}: {url!r} names no compose service"
        assert served.get(host, ("", 0))[0] == service, (
            f"{service}: {url!r} points at compose service {host!r}, which does not run "
            f"`serve {service}`"
        )
        assert parts.port == served[host][1], (
            f"{service}: {url!r} uses port {parts.port}, but {host!r} binds {served[host][1]}"
        )
        assert host in _depends_on("gateway"), f"gateway should depend on {host!r}"


def test_services_reach_postgres_and_kafka() -> None:
    pg = _environment("postgres")
    properties = (ROOT / "infra" / "kafka" / "server.properties").read_text()
    (advertised,) = [
        line.split("=", 1)[1]
        for line in properties.splitlines()
        if line.startswith("advertised.listeners=")
    ]
    # the services' listener: the one the broker talks to itself on
    brokers = {
        urlsplit(listener).netloc
        for listener in advertised.split(",")
        if listener.startswith("CLIENT://")
    }
    for name, (what, _) in _serving().items():
        if what == "gateway":
            continue
        env = _environment(name)
        db = urlsplit(env.get(f"{ENV_PREFIX}DATABASE_URL", ""))
        assert (db.scheme, db.hostname, db.port or 5432) == ("postgresql", "postgres", 5432), (
            f"{name}: {ENV_PREFIX}DATABASE_URL must point at the postgres service"
        )
        assert (db.username, db.password, db.path.lstrip("/")) == (
            pg["POSTGRES_USER"],
            pg["POSTGRES_PASSWORD"],
            pg["POSTGRES_DB"],
        ), f"{name}: {ENV_PREFIX}DATABASE_URL does not match postgres' user, password, db"
        bootstrap = env.get(f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS", "")
        assert bootstrap and set(bootstrap.split(",")) <= brokers, (
            f"{name}: {ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS={bootstrap!r}, kafka "
            f"advertises {sorted(brokers)}"
        )
        for needed in ("postgres", "kafka-setup", "keys"):
            assert needed in _depends_on(name), f"{name} should depend on {needed!r}"


def _keys_mount(name: str) -> tuple[str, bool] | None:
    """(target, read_only) of the `keys` volume in a container, if mounted."""
    for volume in CONTAINERS[name].get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            read_only = "ro" in ",".join(mode).split(",")
        else:
            source, target = volume.get("source"), volume.get("target")
            read_only = bool(volume.get("read_only"))
        if source == "keys":
            return target, read_only
    return None


def test_signing_keys_are_made_once_and_shared() -> None:
    assert "keys" in CONTAINERS, "compose has no one-shot `keys` service"
    assert _command("keys") == ["keys"], "the `keys` service must run `symbiosis keys`"
    assert "keys" in (COMPOSE.get("volumes") or {}), "the `keys` volume is not declared"
    writer = _keys_mount("keys")
    assert writer is not None and not writer[1], "`keys` must mount the keys volume rw"
    for name, (what, _) in _serving().items():
        if what == "gateway":
            continue
        mount = _keys_mount(name)
        assert mount is not None, f"{name} does not mount the keys volume"
        target, read_only = mount
        assert read_only, f"{name} should mount the keys volume read-only"
        condition = CONTAINERS[name]["depends_on"]["keys"].get("condition")
        assert condition == "service_completed_successfully", (
            f"{name} must wait for `keys` to complete, not {condition!r}"
        )
        data_dir = _environment(name).get(f"{ENV_PREFIX}DATA_DIR")
        assert data_dir == _environment("keys").get(f"{ENV_PREFIX}DATA_DIR") == writer[0], (
            f"{name} and `keys` must share {ENV_PREFIX}DATA_DIR at the keys volume"
        )
        settings = ListingsSettings(data_dir=Path(data_dir))
        for key_file in (settings.private_key_path, settings.public_key_path):
            assert PurePosixPath(key_file).is_relative_to(target), (
                f"{name} looks for {key_file}, outside the keys volume at {target}"
            )


def test_depends_on_names_existing_services() -> None:
    for name in CONTAINERS:
        missing = sorted(set(_depends_on(name)) - set(CONTAINERS))
        assert not missing, f"compose service {name!r} depends on unknown {missing}"


def test_healthchecks_probe_the_bound_port() -> None:
    for name, (_, port) in _serving().items():
        test = " ".join(str(t) for t in CONTAINERS[name].get("healthcheck", {}).get("test", []))
        ports = {int(p) for p in re.findall(r"://[^/:'\"]+:(\d+)", test)}
        assert ports == {port}, f"{name}: healthcheck probes ports {ports}, service binds {port}"


def test_dockerfile_builds_the_package() -> None:
    dockerfiles = set()
    for name in OWN:
        build = CONTAINERS[name]["build"]
        if isinstance(build, str):
            build = {"context": build}
        context = ROOT / build.get("context", ".")
        dockerfiles.add(context / build.get("dockerfile", "Dockerfile"))
    assert len(dockerfiles) == 1, f"every container should share one image, not {dockerfiles}"
    dockerfile = dockerfiles.pop()
    assert dockerfile.is_file(), f"compose builds from {dockerfile}, which does not exist"
    text = dockerfile.read_text()
    copied = {
        src.strip("./").rstrip("/")
        for line in re.findall(r"^\s*COPY\s+(?!--from)(.+)$", text, re.MULTILINE)
        for src in shlex.split(line)[:-1]
        if not src.startswith("--")
    }
    for needed in ("pyproject.toml", "README.md", "shared", "services", "symbiosis"):
        assert needed in copied, f"{dockerfile.name} does not COPY {needed}"
    assert re.search(r"^\s*RUN\s.*pip install .*\.(\s|$)", text, re.MULTILINE), (
        f"{dockerfile.name} does not `pip install .`"
    )
    assert re.search(r'^\s*ENTRYPOINT\s+\["symbiosis"\]', text, re.MULTILINE), (
        f'{dockerfile.name} needs ENTRYPOINT ["symbiosis"], the console script'
    )
    users = re.findall(r"^\s*USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"


# --- What operators see: Prometheus and Grafana ---------------------------------------------

PROMETHEUS = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
DASHBOARD = json.loads((ROOT / "infra/grafana/dashboards/symbiosis.json").read_text())


def test_prometheus_scrapes_every_service_and_the_portal_on_its_port() -> None:
    served = {what: (name, port) for name, (what, port) in _serving().items()}
    _, portal = _parse_cli("portal")
    served["portal"] = ("portal", int(portal["port"]))
    targets = {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
        for job in PROMETHEUS["scrape_configs"]
    }
    expected = {
        what: [f"{name}:{port}"] for what, (name, port) in served.items() if what != "gateway"
    }
    assert targets == expected
    mounts = CONTAINERS["prometheus"]["volumes"]
    assert "./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    for container in ("prometheus", "grafana"):
        published = [str(p) for p in CONTAINERS[container]["ports"]]
        assert all(p.startswith("127.0.0.1:") for p in published), (container, published)


def test_the_dashboard_shows_only_metrics_the_services_export() -> None:
    from prometheus_client import REGISTRY

    import shared.observability  # noqa: F401 - registers the metrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    exported = {
        metric.name + suffix
        for metric in REGISTRY.collect()
        for suffix in suffixes.get(metric.type, ("",))
    }
    exprs = [t["expr"] for panel in DASHBOARD["panels"] for t in panel["targets"]]
    named = {name for expr in exprs for name in re.findall(r"\bsymbiosis_[a-z_]+", expr)}
    assert named and named <= exported, named - exported
    titles = " ".join(panel["title"].lower() for panel in DASHBOARD["panels"])
    for topic in ("throughput", "latency", "lag", "backlog", "errors"):
        assert topic in titles, topic


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    grafana = CONTAINERS["grafana"]
    assert "./infra/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    assert "./infra/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    provisioning = ROOT / "infra/grafana/provisioning"
    sources = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"
    boards = yaml.safe_load((provisioning / "dashboards/symbiosis.yml").read_text())
    assert boards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert (
        grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin"
    )
    assert "grafana_admin" in COMPOSE["secrets"]

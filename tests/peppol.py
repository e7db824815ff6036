"""The official Peppol BIS Billing 3.0 and EN 16931 validation artefacts, run with a real
XSLT 3 processor (SaxonC-HE, the ``saxonche`` wheel).

The artefacts are OpenPeppol's compiled schematron (``CEN-EN16931-UBL.xslt``: the EN 16931
rules for UBL; ``PEPPOL-EN16931-UBL.xslt``: the Peppol and national rules, Norway's
included), as the ``phive-rules-peppol`` jar on Maven Central carries them. ``make peppol``
(and the first test that needs them) fetches the jar with the project's Maven (``mvn`` or
the Maven Wrapper, its repository inside .venv, as for the broker's jars), checks its
SHA-256 against the pin below, and unpacks the two files into ``.venv/share/peppol/``.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.etree import ElementTree as ET

GROUP, ARTIFACT, VERSION = "com.helger.phive.rules", "phive-rules-peppol", "4.3.7"
DEPENDENCY_PLUGIN = "3.11.0"  # as symbiosis/broker/maven/pom.xml pins it
SHA256 = "c82aaeda5ca16166034421393d160ec6cf77460b16e027eecc4bb5fe67a552ce"
RELEASE = "2026.5"  # the OpenPeppol release of the rules inside that jar
RULES = ("CEN-EN16931-UBL.xslt", "PEPPOL-EN16931-UBL.xslt")
HERE = Path(__file__).resolve().parent.parent / ".venv" / "share" / "peppol" / RELEASE
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


class ArtefactsMissing(RuntimeError):
    """The artefacts could not be fetched (no Maven, no network, a wrong checksum)."""


def _fetch_jar(workdir: Path) -> Path:
    from symbiosis.broker.runtime import KafkaRuntime, RuntimeProblem

    try:  # the project's Maven, as for the broker's jars: mvn or the wrapper, repository in .venv
        KafkaRuntime().run_maven(
            [
                f"org.apache.maven.plugins:maven-dependency-plugin:{DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact={GROUP}:{ARTIFACT}:{VERSION}:jar",
                f"-DoutputDirectory={workdir}",
            ],
            "the Peppol validation artefacts",
        )
    except RuntimeProblem as exc:
        raise ArtefactsMissing(str(exc)) from None
    jar = workdir / f"{ARTIFACT}-{VERSION}.jar"
    if not jar.is_file():
        raise ArtefactsMissing(f"Maven did not fetch {jar.name}")
    digest = hashlib.sha256(jar.read_bytes()).hexdigest()
    if digest != SHA256:
        raise ArtefactsMissing(f"{jar.name} has SHA-256 {digest}, not the pinned {SHA256}")
    return jar


def artefacts() -> dict[str, Path]:
    """The two rule files, fetched and unpacked once."""
    wanted = {name: HERE / name for name in RULES}
    if all(p.is_file() for p in wanted.values()):
        return wanted
    with tempfile.TemporaryDirectory() as tmp:
        jar = _fetch_jar(Path(tmp))
        HERE.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(jar) as archive:
            for name in RULES:
                inside = f"external/schematron/openpeppol/{RELEASE}/xslt/{name}"
                (HERE / name).write_bytes(archive.read(inside))
            for name in ("LICENSE", "NOTICE"):
                (HERE / name).write_bytes(archive.read(name))
    return wanted


@dataclass(frozen=True)
class Finding:
    rule: str
    flag: str
    location: str
    text: str


@cache
def _executables() -> tuple[object, list[object]]:
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    compiler = processor.new_xslt30_processor()
    return processor, [
        compiler.compile_stylesheet(stylesheet_file=str(path)) for path in artefacts().values()
    ]


def validate(document: bytes) -> list[Finding]:
    """Every failed assertion of both rule sets on ``document`` (fatal ones are errors)."""
    from saxonche import PySaxonProcessor, PyXsltExecutable

    processor, executables = _executables()
    assert isinstance(processor, PySaxonProcessor)
    node = processor.parse_xml(xml_text=document.decode("utf-8"))
    found: list[Finding] = []
    for executable in executables:
        assert isinstance(executable, PyXsltExecutable)
        report = executable.transform_to_string(xdm_node=node)
        assert report is not None
        root = ET.fromstring(report.encode("utf-8"))  # noqa: S314 - our validator's report
        for failed in root.iter(f"{SVRL}failed-assert"):
            text = failed.find(f"{SVRL}text")
            found.append(
                Finding(
                    rule=failed.get("id", ""),
                    flag=failed.get("flag", "fatal"),
                    location=failed.get("location", ""),
                    text=" ".join((text.text or "").split()) if text is not None else "",
                )
            )
    return found


def errors(document: bytes) -> list[Finding]:
    return [f for f in validate(document) if f.flag != "warning"]

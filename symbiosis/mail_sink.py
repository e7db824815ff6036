"""The embedded run's mail sink: an SMTP server (aiosmtpd) that sends nothing on and
keeps each message as an ``.eml`` file, which any mail program opens.

Run by ``symbiosis up`` as ``python -m aiosmtpd -n -l 127.0.0.1:PORT -c
symbiosis.mail_sink.EmlFolder FOLDER`` when no SMTP server is configured.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


class EmlFolder:
    """Writes every message it receives to ``<folder>/<time>-<recipient>.eml``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._count = 0

    @classmethod
    def from_cli(cls, parser: argparse.ArgumentParser, *args: str) -> EmlFolder:
        if len(args) != 1:
            parser.error("EmlFolder takes one argument: the folder to keep the messages in")
        return cls(Path(args[0]))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._count += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        recipient = _UNSAFE.sub("_", envelope.rcpt_tos[0] if envelope.rcpt_tos else "nobody")
        content: Any = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else str(content).encode()
        path = self.folder / f"{stamp}-{self._count:05d}-{recipient}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return "250 Message accepted for delivery"

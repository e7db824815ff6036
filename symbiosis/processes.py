"""Child processes that never outlive the ``symbiosis`` command that started them."""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask the kernel to SIGTERM this child when its parent dies, even by SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


class PortInUse(RuntimeError):
    """A port the command needs is taken by another program."""


def check_port_free(host: str, port: int, what: str) -> None:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUse(
                f"port {port} on {host} (for {what}) is already in use by another program; "
                "stop it, or choose other ports with SYMBIOSIS_HTTP_PORT, "
                "SYMBIOSIS_EMBEDDED_POSTGRES_PORT or SYMBIOSIS_EMBEDDED_KAFKA_PORT"
            ) from None


def port_open(host: str, port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass
class Child:
    """A named child process with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> Child:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
        process = subprocess.Popen(  # noqa: S603 - argv is built by this program
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            user=user,
            # The user's own group only: root's groups would shadow "others" permissions.
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
            cwd=cwd,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops us in order
        )
        return cls(name, process, log_path, log)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> bool:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        finally:
            if self._log is not None and self.process.returncode is not None:
                self._log.close()
        return True

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop_all(children: Sequence[Child], grace: float = 10.0) -> None:
    """SIGTERM in reverse start order, then SIGKILL whatever is still running after ``grace``."""
    for child in reversed(children):
        child.stop()
    deadline = time.monotonic() + grace
    for child in reversed(children):
        if not child.wait(max(0.0, deadline - time.monotonic())):
            child.stop(signal.SIGKILL)
            child.wait(5.0)


def kill_all(children: Sequence[Child]) -> None:
    for child in children:
        child.stop(signal.SIGKILL)
    for child in children:
        child.wait(5.0)

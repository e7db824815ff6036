"""Logging of every process the ``symbiosis`` command starts, configured once.

structlog and the standard library (uvicorn, aiokafka, FastStream, Litestar) write through
one handler: JSON lines when the output is not a terminal (containers, the log files of
``symbiosis up``), readable lines in a terminal; ``SYMBIOSIS_LOG_FORMAT`` overrides the
choice and ``SYMBIOSIS_LOG_LEVEL`` filters both. Tracebacks are plain text without local
variables (structlog's default renders them, and with them a request's password), and every
line passes through ``redact``: values under secret-sounding keys, and anything that looks
like a token, an API key, a Stripe or webhook secret or a password in a URL, are replaced
before they are written. Request bodies are never logged; the access log holds the method,
the path (without its query), the status and the duration.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

LogFormat = Literal["auto", "json", "console"]

REDACTED = "[redacted]"

# Keys whose values are never written, whatever they hold.
_SECRET_KEY = re.compile(
    r"pass(word|phrase|wd)?$|secret|token|api_?key|authori[sz]ation|cookie|signature|"
    r"credential|private_?key|session",
    re.IGNORECASE,
)
# Keys that merely sound like it (a token's type, a count of sessions) are fine.
_HARMLESS_KEY = re.compile(r"^(token_type|expires_in)$", re.IGNORECASE)

# What a secret looks like wherever it appears in a text: first the whole credential, then
# the value after a name that says it is one.
_SECRET_TEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    # Our API keys (vpk_<JWT>) and access tokens, and any other JWT.
    (re.compile(r"(?:vpk_)?eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
    # Stripe secret and restricted keys; webhook signing secrets (Stripe's and ours).
    (re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{4,}"), REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9_-]{4,}"), REDACTED),
    # Password hashes.
    (re.compile(r"\$argon2[a-z]*\$[^\s'\"]+"), REDACTED),
    # Authorization header values.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # user:password@ in URLs (database and broker addresses).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
    # "password": "...", password=..., 'api_key': '...' in reprs, JSON and query strings.
    (
        re.compile(
            r"""(?ix)
            (["']?\b(?:password|passphrase|passwd|secret|token|api_key|access_token|
                      invitation_token|client_secret)["']?\s*[:=]\s*)
            (?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|SecretStr\('[^']*'\)|[^\s,&;)}\]]+)
            """
        ),
        r"\1" + REDACTED,
    ),
    # PostgreSQL's "Failing row contains (...)": a row's values, hashes and secrets included.
    (re.compile(r"(Failing row contains )\(.*\)"), r"\1" + REDACTED),
    # Webhook and Stripe signatures: t=...,v1=<hex>.
    (re.compile(r"(?i)\b(v[01]=)[0-9a-f]{32,}"), r"\1" + REDACTED),
)


def _any_of(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str]:
    """One pattern that finds whatever any of ``patterns`` would (each pattern's leading
    flags kept for it alone)."""
    parts = []
    for pattern in patterns:
        flags = re.match(r"^\(\?([aiLmsux]+)\)", pattern.pattern)
        body = pattern.pattern[flags.end() :] if flags else pattern.pattern
        parts.append(f"(?{flags[1]}:{body})" if flags else f"(?:{body})")
    return re.compile("|".join(parts))


# One search says whether any of them could change a text: most texts (event types, topics,
# ids, paths) hold none, and are then left as they are without running each in turn.
_ANY_SECRET_TEXT = _any_of(tuple(pattern for pattern, _ in _SECRET_TEXT))


def redact_text(text: str) -> str:
    """``text`` with everything that looks like a secret replaced by ``[redacted]``."""
    if _ANY_SECRET_TEXT.search(text) is None:
        return text
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, depth: int = 0) -> Any:
    """A value (nested dicts, lists and strings) with its secrets redacted."""
    if depth > 10:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {
            key: (
                REDACTED
                if _is_secret_key(key) and value[key] not in (None, "")
                else redact_value(value[key], depth + 1)
            )
            for key in value
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item, depth + 1) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _secret_key_name(key)


@functools.lru_cache(maxsize=4096)
def _secret_key_name(key: str) -> bool:
    """Whether a key names a secret: a log line's keys are a few dozen names, asked about on
    every line, so each is searched once (and the bound keeps made-up keys from growing it)."""
    return _SECRET_KEY.search(key) is not None and _HARMLESS_KEY.match(key) is None


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the event with its secrets redacted (keys and text alike)."""
    for key in list(event_dict):
        if key in ("exc_info", "stack_info"):
            continue  # rendered (and then redacted) by format_exc_info further on
        value = event_dict[key]
        if _is_secret_key(key) and value not in (None, ""):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(value)
    return event_dict


def _redact_rendered(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """After the traceback became text: redact it too."""
    for key in ("exception", "stack"):
        if isinstance(event_dict.get(key), str):
            event_dict[key] = redact_text(event_dict[key])
    return event_dict


def _common() -> list[Processor]:
    """What every line gets, from structlog or from the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(fmt: LogFormat, stream: Any) -> Processor:
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(
            colors=getattr(stream, "isatty", lambda: False)(),
            exception_formatter=structlog.dev.plain_traceback,
        )
    return structlog.processors.JSONRenderer(sort_keys=False)


# Libraries whose INFO lines repeat what the access log says, or print full URLs with their
# query strings: warnings and errors only.
_QUIET = ("httpx", "httpcore", "uvicorn.access", "aiokafka", "stripe", "asyncio")


def configure_logging(
    level: str = "INFO", fmt: LogFormat = "auto", stream: Any = None, **context: Any
) -> None:
    """Configure structlog and the standard library for this process; ``context`` (e.g.
    ``service="listings"``) is added to every line."""
    stream = stream or sys.stdout
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_common(), structlog.stdlib.ExtraAdder(), redact],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Plain tracebacks: file, line and code, never the frames' local variables.
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _redact_rendered,
            _renderer(fmt, stream),
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # Python's warnings as log lines too, not bare text
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # uvicorn and Litestar bring their own handlers; theirs would bypass the redaction.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    if context:
        structlog.contextvars.bind_contextvars(**context)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_common(),
            redact,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# --- The access log ------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

access_log = structlog.get_logger("symbiosis.access")


def client_address(scope: Mapping[str, object]) -> str | None:
    """The caller's address: the last ``X-Forwarded-For`` entry (set by the gateway, which
    drops what the caller sent; the services are reached only through it), else the
    peer's."""
    headers: Any = scope.get("headers", ())
    for name, value in headers:
        if name.lower() == b"x-forwarded-for":
            last = str(value.decode("latin-1")).rsplit(",", 1)[-1].strip()
            if last:
                return last[:100]
    client: Any = scope.get("client")
    return str(client[0]) if client else None


class AccessLog:
    """ASGI middleware: one line per HTTP request with its method, path (without the query
    string, which may carry a secret), status, duration and client address."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:  # the wrapped app's state, for tests and tools
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            access_log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                client=client_address(scope),
            )

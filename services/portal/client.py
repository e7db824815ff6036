"""The services' public HTTP APIs, called with the signed-in person's token.

The portal never reads a service's database: everything it shows comes from here, and
every answer that is not a success becomes an ``ApiProblem`` (RFC 9457 problem details).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.portal.i18n import Language
from shared.http import cookieless
from shared.observability import carrier


@dataclass
class ApiProblem(Exception):
    """A service said no (or could not be reached): its problem details."""

    status: int
    title: str
    detail: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    code: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    retry_after: int = 0  # seconds, from a 429's Retry-After

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    def refused_cursor(self, cursor: str | None) -> bool:
        """Whether a list refused the cursor a page was asked with (one from an old or
        altered address): the page then shows the list from its start."""
        return self.status == 400 and bool(cursor)

    @classmethod
    def of(cls, response: httpx.Response) -> ApiProblem:
        try:
            body = response.json()
        except ValueError:
            body = None
        retry = response.headers.get("retry-after", "")
        retry_after = int(retry) if retry.isdigit() else 0
        if not isinstance(body, dict):
            return cls(
                response.status_code, response.reason_phrase or "Error", retry_after=retry_after
            )
        errors: list[dict[str, Any]] = [
            {
                "field": str(e.get("field", "")),
                "message": str(e.get("message", "")),
                "code": str(e.get("code") or ""),
                "params": e.get("params") if isinstance(e.get("params"), dict) else {},
            }
            for e in body.get("errors") or []
            if isinstance(e, dict)
        ]
        params = body.get("params")
        return cls(
            status=int(body.get("status") or response.status_code),
            title=str(body.get("title") or response.reason_phrase or "Error"),
            detail=str(body.get("detail") or ""),
            errors=errors,
            code=str(body.get("code") or ""),
            params=params if isinstance(params, dict) else {},
            retry_after=retry_after,
        )


UNREACHABLE = 503


class Remembered:
    """Answers that change seldom and are the same for everyone signed in (a company's
    name), kept for ``seconds`` so that a page naming fifty companies does not ask fifty
    times; ``forget`` drops one at once (the portal changed it)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._known: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        known = self._known.get(key)
        if known is None or self._clock() >= known[0]:
            return None
        return known[1]

    def put(self, key: str, value: Any) -> None:
        self._known[key] = (self._clock() + self._seconds, value)

    def forget(self, key: str) -> None:
        self._known.pop(key, None)


# How long a company's name is known without asking again (a rename made on this portal is
# seen at once).
NAMES_SECONDS = 60.0


class Services:
    """One HTTP client for the portal's life, and where each service is."""

    def __init__(
        self, upstreams: Mapping[str, str], transport: httpx.AsyncBaseTransport | None = None
    ):
        self.names = Remembered(NAMES_SECONDS)
        self._upstreams = dict(upstreams)
        self._client = httpx.AsyncClient(
            cookies=cookieless(),
            timeout=httpx.Timeout(15.0),
            transport=transport,
            follow_redirects=False,
        )

    def url(self, service: str, path: str) -> str:
        return f"{self._upstreams[service]}/api/{service}{path}"

    def as_person(self, token: str | None, language: Language, client: str | None = None) -> Api:
        """The APIs as this person (``token``) sees them; ``client`` is the browser's
        address, passed on for sign-in throttling and the audit log."""
        return Api(self, token, language, client)

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        return self._client


@dataclass
class Api:
    """The services as one person sees them (their token, their language)."""

    services: Services
    token: str | None
    language: Language
    client: str | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept-Language": self.language, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.client:
            headers["X-Forwarded-For"] = self.client
        return headers | carrier()  # this page's trace context and correlation id

    async def respond(
        self,
        method: str,
        service: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """The whole answer (for its headers too); ``ApiProblem`` for anything but a success."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.services.http.request(
                method,
                self.services.url(service, path),
                json=json,
                params=clean,
                headers=self._headers(),
            )
        except httpx.TransportError as exc:
            raise ApiProblem(UNREACHABLE, "Service unavailable", str(exc)) from exc
        if response.status_code >= 400:
            raise ApiProblem.of(response)
        return response

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """The decoded JSON answer; ``ApiProblem`` for anything but a success."""
        response = await self.respond(method, service, path, json=json, params=params)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def peek(self, service: str, path: str) -> tuple[int, Any]:
        """A GET whose answer is read whatever its status (a health check's 503 says why);
        ``(503, None)`` when the service cannot be reached."""
        try:
            response = await self.services.http.get(
                self.services.url(service, path), headers=self._headers()
            )
        except httpx.TransportError:
            return UNREACHABLE, None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    async def get(self, service: str, path: str, **params: Any) -> Any:
        return await self.call("GET", service, path, params=params)

    async def post(self, service: str, path: str, body: Any = None) -> Any:
        return await self.call("POST", service, path, json=body if body is not None else {})

    async def patch(self, service: str, path: str, body: Any) -> Any:
        return await self.call("PATCH", service, path, json=body)

    async def put(self, service: str, path: str, body: Any) -> Any:
        return await self.call("PUT", service, path, json=body)

    async def delete(self, service: str, path: str) -> Any:
        return await self.call("DELETE", service, path)

    @asynccontextmanager
    async def stream(
        self, service: str, path: str, headers: Mapping[str, str] | None = None, **params: Any
    ) -> AsyncIterator[httpx.Response]:
        """A streamed GET (Server-Sent Events), with no read timeout."""
        request = self.services.http.build_request(
            "GET",
            self.services.url(service, path),
            params={k: v for k, v in params.items() if v is not None},
            headers={**self._headers(), "Accept": "text/event-stream", **(headers or {})},
            timeout=httpx.Timeout(15.0, read=None),
        )
        try:
            response = await self.services.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise ApiProblem(UNREACHABLE, "Service unavailable", str(exc)) from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                raise ApiProblem.of(response)
            yield response
        finally:
            await response.aclose()

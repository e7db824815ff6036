"""What the security tests use to look at the running processes from outside: their open
connections and memory (from /proc), raw HTTP over a socket, and signed-in callers."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support import Stack, org_number

PASSWORD = "correct horse battery staple"


def connections_to(pid: int, port: int) -> int:
    """TCP connections of process ``pid`` whose remote port is ``port`` (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            state = fields[3]
            if fields[9] in inodes and remote_port == port and state == "01":  # ESTABLISHED
                count += 1
    return count


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def raw_request(
    port: int, head: bytes, body_chunks: list[bytes] | None = None, timeout: float = 10.0
) -> tuple[bytes, int]:
    """Send ``head`` (request line and headers) and then the chunks, as far as the server
    takes them; the answer's bytes (until the server closes or ``timeout``) and how many
    body bytes were sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        writer.write(head)
        await writer.drain()
        for chunk in body_chunks or []:
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (ConnectionError, TimeoutError):
                break
            sent += len(chunk)
            if len(reader._buffer) > 0:  # type: ignore[attr-defined]  # answered already
                break
        answer = b""
        try:
            async with asyncio.timeout(timeout):
                while chunk := await reader.read(65536):
                    answer += chunk
                    if b"\r\n\r\n" in answer and _complete(answer):
                        break
        except (TimeoutError, ConnectionError):
            pass
        return answer, sent
    finally:
        writer.close()


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_of(answer: bytes) -> int | None:
    first = answer.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) >= 2 and first[1].isdigit() else None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.no"


async def company_with_admin(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """A new company with its first admin: its answer, the admin's e-mail, headers for its
    API key and the admin's access token."""
    email = unique_email("admin")
    response = await client.post(
        "/api/listings/companies/",
        json={
            "name": name,
            "org_number": org_number(),
            "admin": {"name": "Ada Admin", "email": email, "password": PASSWORD},
        },
    )
    assert response.status_code == 201, response.text
    company: dict[str, Any] = response.json()
    company["email"] = email
    company["headers"] = bearer(company["api_key"])
    company["token"] = await sign_in(client, email)
    return company


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/listings/auth/token", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def colleague(
    client: httpx.AsyncClient, company: dict[str, Any], role: str = "admin"
) -> dict[str, Any]:
    """A colleague invited by the company's admin, who joins and signs in."""
    email = unique_email("colleague")
    invited = await client.post(
        "/api/listings/people/",
        json={"email": email, "name": "Cole League", "role": role},
        headers=bearer(company["token"]),
    )
    assert invited.status_code == 201, invited.text
    joined = await client.post(
        "/api/listings/people/accept-invitation",
        json={"token": invited.json()["invitation_token"], "password": PASSWORD},
    )
    assert joined.status_code == 200, joined.text
    return {"id": joined.json()["id"], "email": email, "token": await sign_in(client, email)}


_park_admins: dict[str, str] = {}


def park_admin_token(stack: Stack) -> str:
    """A fresh access token of a park administrator (one administrator per stack)."""
    from tests.e2e.test_accounts import make_park_admin

    if stack.url not in _park_admins:
        email = unique_email("park")
        make_park_admin(stack, email, PASSWORD)
        _park_admins[stack.url] = email
    response = httpx.post(
        f"{stack.url}/api/listings/auth/token",
        json={"email": _park_admins[stack.url], "password": PASSWORD},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])

"""Where a webhook may be sent: https to public addresses only, unless the park's
allow-list (``SYMBIOSIS_WEBHOOK_ALLOWED_HOSTS``) names the host or its network.

A company chooses the URL, and the notifications service sends to it from inside the park's
network: without this check a company could make it post to the services' own ports, the
database, the broker or a cloud's metadata address, and read in the delivery log what
answered. So:

- **When an endpoint is registered or changed** (``check_url``) the URL must be https (plain
  http only to an allow-listed host), without a user name or fragment, and its host must not
  be an address or a name that is internal on its face (a literal loopback, private,
  link-local, unique-local, multicast or reserved address, in any of the spellings a
  resolver accepts such as ``2130706433`` or ``0x7f.1``; ``localhost``; a name without a
  dot; ``.local``, ``.internal`` and the like). No DNS lookup is made then.
- **On every delivery** (``resolve``) the host is resolved and every address it resolves to
  must be public; the request then goes to that checked address (the URL's host is kept
  for the ``Host`` header and TLS), so a name that resolves differently a moment later
  (DNS rebinding) cannot slip through. Redirects are never followed.

The address rules (``address_refusal``) are pure and tested on literal addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Names that never reach the public internet.
_INTERNAL_SUFFIXES = (
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".lan",
    ".home",
    ".corp",
    ".private",
    ".home.arpa",
    ".in-addr.arpa",
    ".ip6.arpa",
)
# Ranges ipaddress counts as global but no webhook receiver lives in.
_NOT_RECEIVERS: tuple[Network, ...] = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT (shared address space)
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64
)
NOT_PUBLIC = "webhooks are sent to public internet addresses only"


class TargetRefused(ValueError):
    """A webhook URL or address that the exchange will not send to; the message says why
    in words a company can act on, without revealing what the park's network holds."""


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public internet address, or None when it is one."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_refusal(embedded)
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fc00::/7"):
        return "a unique-local address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if any(address in network for network in _NOT_RECEIVERS if network.version == address.version):
        return "an address of a special-purpose range"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, IPv4-compatible, NAT64, 6to4 or Teredo
    IPv6 address: the network would deliver to that one."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d (deprecated, still routed)
        return ipaddress.IPv4Address(int(address))
    return None


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an address if it is one in any spelling a resolver takes for one
    (``127.0.0.1``, ``::1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``), without a lookup."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if not text or not all(c in "0123456789abcdefxABCDEFX." for c in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))  # the C library's own rules
    except OSError:
        return None


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks the park allows webhooks to, even over plain http: test
    receivers, on-premises systems. Empty by default."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> AllowList:
        """From ``"127.0.0.1, erp.park.lan, 10.20.0.0/16"``; a ValueError names a bad entry."""
        entries = text.split(",") if isinstance(text, str) else list(text)
        names: set[str] = set()
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if any(c in entry for c in "/:@ ") or entry.startswith("."):
                raise ValueError(f"{raw.strip()!r} is neither a host name nor an address")
            names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in n for n in self.networks if n.version == address.version)

    def allows_host(self, host: str) -> bool:
        """The host is listed by name, or it is an address in a listed network."""
        if self.allows_name(host):
            return True
        address = literal_address(host)
        return address is not None and self.allows_address(address)


def check_url(url: str, allow: AllowList) -> str:
    """The URL if a webhook may be registered for it; ``TargetRefused`` saying why not.
    Makes no DNS lookup (``resolve`` checks the addresses at each delivery)."""
    if url != url.strip() or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise TargetRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a port that is not a number raises here
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    if not host:
        raise TargetRefused("must be an absolute URL with a host, e.g. https://example.no/hooks")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("must not carry a user name or password")
    if parts.fragment:
        raise TargetRefused("must not have a #fragment")
    allowed = allow.allows_host(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise TargetRefused("must be an https:// URL (plain http:// only to hosts the park allows)")
    if allowed:
        return url
    address = literal_address(host)
    if address is not None:
        why = address_refusal(address)
        if why is not None:
            raise TargetRefused(f"{host} is {why}; {NOT_PUBLIC}")
        return url
    name = host.lower().rstrip(".")
    if "." not in name or name == "localhost" or name.endswith(_INTERNAL_SUFFIXES):
        raise TargetRefused(f"{host} is not a public host name; {NOT_PUBLIC}")
    return url


@dataclass(frozen=True)
class Target:
    """Where one delivery goes: the URL to request (its host replaced by the checked
    address) and the extra header and TLS name that keep the original host."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses, as the operating system resolves them."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve(url: str, allow: AllowList, resolver: Resolver = system_resolver) -> Target:
    """Check the URL again and resolve its host; every address must be public (or in the
    allow-list). ``TargetRefused`` otherwise, with the same words whether the name does not
    resolve or resolves inside, so the delivery log tells nothing of the park's network."""
    check_url(url, allow)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if literal_address(host) is not None:
        return Target(url, {}, {})  # check_url has checked the address itself
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await resolver(host, port)
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    except (OSError, ValueError, UnicodeError):
        addresses = []
    if not allow.allows_name(host):
        refused = [a for a in addresses if address_refusal(a) and not allow.allows_address(a)]
        if refused:
            addresses = []
    if not addresses:
        raise TargetRefused(f"{host} does not resolve to a public address; {NOT_PUBLIC}")
    address = addresses[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    if parts.port is not None:
        netloc += f":{parts.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    return Target(pinned, {"Host": host_header}, {"sni_hostname": host})

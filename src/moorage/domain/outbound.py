"""The SSRF guard for requests Moorage makes itself (webhook deliveries, later replication):
a target's host is resolved and every address it resolves to must be public, unless an
administrator allowed its network in ``outbound.allowed_networks``.

Checked when a target is configured (a clear 400) and again right before each request,
which then connects to the checked address itself, so a name that re-resolves elsewhere
(DNS rebinding) cannot redirect it.  Redirects are never followed by the callers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from moorage.core.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundRefused(BadRequest):
    """The target's host is, or resolves to, an address outbound requests may not reach."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked target: where to connect (``addresses``, all allowed) and what to ask for."""

    url: str
    scheme: str
    host: str  # as written in the URL (lower case, IPv6 without brackets)
    port: int
    addresses: tuple[str, ...]


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64): a
    connection to the IPv6 form may reach the IPv4 host, so both are checked."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    packed = ip.packed
    if ip in NAT64 or (packed[:12] == bytes(12) and int(ip) > 1):  # NAT64 and IPv4-compatible ::a.b.c.d
        found.append(ipaddress.IPv4Address(packed[12:]))
    return found


def address_class(ip: IPAddress) -> str | None:
    """Why an address is not public (``"loopback"``, ``"private"``...), or None if it is."""
    checks = (
        ("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unique-local", isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.IPv6Network("fc00::/7")),
        ("private", ip.is_private), ("reserved", ip.is_reserved), ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


class OutboundGuard:
    def __init__(self, allowed_networks: Iterable[str]) -> None:
        """``allowed_networks``: CIDRs reachable although not public; a bad one is a ValueError."""
        self.allowed: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed)

    def refusal(self, ip: IPAddress) -> str | None:
        """Why ``ip`` may not be reached (None: it may).  An allowed network wins; an IPv6 form
        of an IPv4 address is judged by both."""
        if self._allowed(ip):
            return None
        embedded = embedded_ipv4(ip)
        for inner in embedded:
            reason = None if self._allowed(inner) else address_class(inner)
            if reason is not None:
                return f"{reason} (IPv4 {inner} inside {ip})"
        if embedded and isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip in NAT64
                                                                   or ip.packed[:12] == bytes(12)):
            return None  # a translated IPv4 address: where it leads was judged above
        return address_class(ip)

    @staticmethod
    def parse(url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an http(s) URL; BadRequest for anything else."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise BadRequest(f"invalid address {url!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise BadRequest(f"invalid address {url!r}: the scheme must be http or https")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise BadRequest(f"invalid address {url!r}: no host")
        return scheme, host, port or DEFAULT_PORTS[scheme]

    async def resolve(self, url: str) -> Destination:
        """Resolve the URL's host and check every address; OutboundRefused naming the address
        and its class if one may not be reached, BadRequest if the URL is malformed or the
        host does not resolve."""
        scheme, host, port = self.parse(url)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as exc:
                raise BadRequest(f"invalid address {url!r}: cannot resolve {host}: {exc}") from None
            # Drop any IPv6 zone ("fe80::1%eth0"): the address itself decides.
            addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
        if not addresses:
            raise BadRequest(f"invalid address {url!r}: {host} resolves to no address")
        for ip in addresses:
            reason = self.refusal(ip)
            if reason is not None:
                shown = host if literal is not None else f"{host} ({ip})"
                raise OutboundRefused(
                    f"address {url!r} refused: {shown} is {reason}; outbound requests only reach public "
                    "addresses unless an administrator adds the network to outbound.allowed_networks")
        return Destination(url.strip(), scheme, host, port, tuple(str(ip) for ip in addresses))

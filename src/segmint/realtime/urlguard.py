"""Which webhook destinations the service may call: public addresses only (no SSRF).

A webhook URL is checked when it is registered and again before every delivery, after DNS
resolution: a name can resolve to a private address, and a name can be re-pointed (DNS
rebinding) between the check and the connection. :func:`resolve_destination` therefore returns
the checked address, and the sender connects to that address (keeping the name in ``Host`` and
in TLS SNI) instead of letting the HTTP client resolve the name a second time.

Refused: loopback, private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), link-local
(169.254/16, fe80::/10: the cloud metadata addresses 169.254.169.254 and fd00:ec2::254 are in
these ranges), multicast, unspecified, reserved and documentation ranges -- everything that
:attr:`ipaddress.IPv4Address.is_global` does not call global. IPv6 forms that carry an IPv4
address (``::ffff:127.0.0.1``, ``::127.0.0.1``, 6to4, NAT64) are judged by that IPv4 address.
IPv4 written in decimal, octal, hexadecimal or with fewer than four parts (``2130706433``,
``0177.0.0.1``, ``0x7f.1``) is refused outright: such hosts are only ever used to slip past
filters. With ``allow_loopback`` (``segmint serve --allow-loopback-webhooks``, for local
testing) loopback passes, except the server's own port; private and metadata addresses stay
refused.

Every refusal carries the same message, whatever the reason, so that the answers cannot be used
to map an internal network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from segmint.errors import SegmintError

__all__ = [
    "REFUSED",
    "DestinationPolicy",
    "DestinationRefused",
    "DestinationUnresolved",
    "Resolver",
    "address_allowed",
    "resolve_destination",
]

REFUSED = (
    "webhook destination refused: the URL must be http(s) and its host must resolve only to "
    "public addresses"
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port)`` -> the addresses a name resolves to (as strings)
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPAT = ipaddress.IPv6Network("::/96")


class DestinationRefused(SegmintError, ValueError):
    """A webhook URL whose destination the service must not call (always :data:`REFUSED`)."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


class DestinationUnresolved(DestinationRefused):
    """The host name does not resolve (now): refused at registration, retried at delivery."""


@dataclass(frozen=True)
class DestinationPolicy:
    """What may be called.

    Attributes
    ----------
    allow_loopback : bool
        Let loopback addresses through (local testing only).
    own_port : int or None
        The port the service listens on: a loopback URL on it would call the service itself,
        so it stays refused even with ``allow_loopback``.
    """

    allow_loopback: bool = False
    own_port: int | None = None


@dataclass(frozen=True)
class Destination:
    """A checked URL and the addresses (all allowed) its host resolved to, in order."""

    url: SplitResult
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.addresses[0]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):  # ::1 and :: are IPv6's own
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(ip: IPAddress, policy: DestinationPolicy, port: int) -> bool:
    """Whether the service may connect to ``ip:port`` under ``policy``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return False
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_allowed(inner, policy, port)
    if ip.is_loopback:
        return policy.allow_loopback and port != policy.own_port
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> IPAddress | None:
    """The address a host names directly, or None for a DNS name; refuses odd IPv4 forms."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        socket.inet_aton(host)  # accepts what C resolvers accept: 2130706433, 0x7f.1, 0177.0.0.1
    except OSError:
        return None
    raise DestinationRefused()


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_destination(
    url: str, policy: DestinationPolicy, resolver: Resolver | None = None
) -> Destination:
    """Check a URL and resolve its host to the addresses the service may connect to.

    Parameters
    ----------
    url : str
    policy : DestinationPolicy
    resolver : callable, optional
        ``await resolver(host, port)`` -> addresses; default: the system's ``getaddrinfo``.

    Returns
    -------
    Destination
        With the resolved addresses; every one must be allowed (a name with one private
        answer among public ones is refused).

    Raises
    ------
    DestinationRefused
        For any refused URL, and for a name that does not resolve.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused() from None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise DestinationRefused()
    ip = _literal(host)
    if ip is not None:
        addresses = [str(ip)]
    else:
        try:
            addresses = await (resolver or _system_resolver)(host, port)
        except OSError:
            raise DestinationUnresolved() from None
    if not addresses:
        raise DestinationUnresolved()
    for address in addresses:
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise DestinationRefused() from None
        if not address_allowed(parsed, policy, port):
            raise DestinationRefused()
    return Destination(parts, host, port, tuple(dict.fromkeys(addresses)))

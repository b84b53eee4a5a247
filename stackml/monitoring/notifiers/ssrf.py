"""Checks that keep webhook deliveries from reaching internal services (SSRF).

* Only ``http`` and ``https`` URLs, without credentials.
* The host name is resolved once; every address it resolves to is checked, and the request
  then connects to that checked address (pinned), so a second DNS answer cannot swap in an
  internal one.
* Loopback (``127.0.0.0/8``, ``::1``), link-local (``169.254.0.0/16`` - cloud metadata - and
  ``fe80::/10``), unspecified, multicast and reserved addresses are refused, as are private
  ranges, unless explicitly allowed. IPv4-mapped IPv6 addresses are checked as IPv4.
  Decimal (``2130706433``), octal (``0177.0.0.1``) and hexadecimal host forms resolve to the
  address they spell, and are refused the same way.
* Redirects are not followed blindly: each ``Location`` goes through the same checks.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from stackml.errors import InvalidInput

__all__ = ["ALLOWED_SCHEMES", "Target", "check_address", "resolve_target"]

ALLOWED_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to ``ip``, speak to ``host`` (Host header, SNI)."""

    scheme: str
    host: str
    port: int
    ip: str
    path: str


def check_address(
    ip: str, *, allow_loopback: bool = False, allow_private: bool = False
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The parsed address, or ``InvalidInput`` when it is not allowed."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        if allow_loopback:
            return addr
        raise InvalidInput(f"webhook address {addr} is a loopback address (not allowed)")
    if addr.is_link_local:
        raise InvalidInput(f"webhook address {addr} is link-local (not allowed)")
    if addr.is_unspecified or addr.is_multicast or addr.is_reserved:
        raise InvalidInput(f"webhook address {addr} is not a routable unicast address")
    if addr.is_private and not allow_private:
        raise InvalidInput(f"webhook address {addr} is private; pass allow_private to allow it")
    return addr


def resolve_target(
    url: str, *, allow_loopback: bool = False, allow_private: bool = False
) -> Target:
    """Check ``url`` and resolve its host to one allowed address. Raises ``InvalidInput``."""
    if not isinstance(url, str) or len(url) > 2000:
        raise InvalidInput("a webhook URL is text of at most 2000 characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidInput(f"webhook scheme {scheme!r} is not allowed; use http or https")
    if parts.username or parts.password:
        raise InvalidInput("webhook URLs must not carry credentials")
    host = parts.hostname
    if not host:
        raise InvalidInput(f"webhook URL {url!r} has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidInput(f"webhook URL {url!r} has an invalid port") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"cannot resolve webhook host {host!r}: {exc}") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise InvalidInput(f"webhook host {host!r} has no address")
    # Every answer must be allowed: a name that resolves to one public and one internal
    # address is refused rather than raced.
    for ip in addresses:
        check_address(ip, allow_loopback=allow_loopback, allow_private=allow_private)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port, addresses[0], path)

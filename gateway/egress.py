"""Where the gateway may connect on a tenant's behalf (webhook URLs): public internet addresses on
web ports only, unless an explicit allow-list says otherwise (docs/deployment.md "Webhooks").

Pure policy over an injected resolver (no network of its own; the default resolver is
``socket.getaddrinfo``). Used twice: when a URL is registered, and again by the webhook poster
just before it connects, on the addresses that resolution gave at that instant — the poster then
connects to exactly one of those addresses and checks the peer it got (DNS rebinding between the
check and the connection cannot move it).

Refused: loopback, private (RFC 1918, ULA), link-local (169.254/16, fe80::/10, which holds the
cloud metadata address 169.254.169.254), CGNAT 100.64/10, multicast, reserved, unspecified
(0.0.0.0, ::), documentation and benchmark ranges — anything ``ipaddress`` does not call global —
also when wrapped in IPv6 (IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo); metadata host
names (metadata.google.internal, …), ``localhost`` and the ``.internal``/``.local``/``.localhost``
suffixes; IP addresses written in any form but the canonical one (decimal 2130706433, octal
0177.0.0.1, hex 0x7f.0.0.1, short 127.1); IPv6 zone ids; ports other than ``ports``.

``allow``: networks (CIDR) a deployment trusts on purpose — ``127.0.0.0/8`` for local development
and the test suite. A host whose every address lies in an allowed network passes on any port.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

WEB_PORTS = frozenset({80, 443, 8080, 8443})
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.com", "metadata.tencentyun.com", "metadata.platformequinix.com", "kubernetes.default",
    "kubernetes.default.svc",
})
INTERNAL_SUFFIXES = (".internal", ".local", ".localhost", ".localdomain", ".home.arpa", ".svc", ".cluster.local")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(ValueError):
    """The URL or address may not be connected to; the message is safe to show the tenant."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to now (IPv4 and IPv6), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:      # IPv4-compatible ::a.b.c.d (deprecated)
        return ipaddress.IPv4Address(int(ip))
    return None


def address_problem(ip: Address) -> str | None:
    """Why ``ip`` is not a public address (None when it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            problem = address_problem(inner)
            return f"{problem} (inside an IPv6 address)" if problem else None
    for test, name in ((ip.is_unspecified, "unspecified"), (ip.is_loopback, "loopback"),
                       (ip.is_link_local, "link-local (cloud metadata)"), (ip.is_multicast, "multicast"),
                       (ip in _CGNAT if ip.version == 4 else False, "carrier-grade NAT"),
                       (ip.is_private, "private"), (ip.is_reserved, "reserved")):
        if test:
            return name
    return None if ip.is_global else "not a global address"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str           # as written in the URL (lower case), for Host and TLS server name
    port: int
    path: str           # path and query, at least "/"
    addresses: tuple[str, ...]    # vetted, in resolver order


@dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[Network, ...] = ()
    ports: frozenset[int] = WEB_PORTS
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_networks(cls, networks: Iterable[str], resolver: Resolver | None = None) -> EgressPolicy:
        allow = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip())
        return cls(allow=allow, resolver=resolver or system_resolver)

    def allowed(self, ip: Address) -> bool:
        return any(ip.version == n.version and ip in n for n in self.allow)

    def check_address(self, address: str, port: int) -> None:
        """Raise EgressRefused unless connecting to ``address``:``port`` is allowed."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise EgressRefused("url host is not a usable address") from None
        if self.allowed(ip):
            return
        problem = address_problem(ip)
        if problem:
            raise EgressRefused(f"url points to a {problem} address; webhooks go to public internet addresses")
        if port not in self.ports:
            raise EgressRefused(f"url port {port} is not allowed (use one of {', '.join(map(str, sorted(self.ports)))})")

    def vet(self, url: str) -> Target:
        """Parse ``url``, resolve its host now and check every address; the Target lists them."""
        scheme, host, port, path = _split(url)
        literal = _literal_address(host)
        if literal is None:
            _check_name(host)
            try:
                addresses = self.resolver(host, port)
            except (OSError, UnicodeError):
                raise EgressRefused("url host does not resolve to a public address") from None
            if not addresses:
                raise EgressRefused("url host does not resolve to a public address")
        else:
            addresses = [literal]
        for address in addresses:
            self.check_address(address, port)
        return Target(scheme, host, port, path, tuple(addresses))


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressRefused("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused("url must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("url must not carry credentials")
    host = parts.hostname.lower()
    if "%" in host or "\\" in host or any(c.isspace() or ord(c) < 0x21 for c in host):
        raise EgressRefused("url host contains characters not allowed in a host name")
    port = port if port is not None else (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, path


def _literal_address(host: str) -> str | None:
    """The address when ``host`` is an IP literal; refuses IPv4 in any but dotted-decimal form
    (the C resolver reads 2130706433, 0x7f.1 and 0177.0.0.1 as 127.0.0.1)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        canonical = socket.inet_ntoa(socket.inet_aton(host))     # pure parsing, no lookup
    except (OSError, UnicodeError, ValueError):
        canonical = None
    if canonical is not None or all(c in "0123456789.x" for c in host.rstrip(".")):
        raise EgressRefused("url host is a numeric address in a non-canonical form")
    return None


def _check_name(host: str) -> None:
    name = host.rstrip(".")
    if not name or name == "localhost" or name in METADATA_HOSTS or name.endswith(INTERNAL_SUFFIXES):
        raise EgressRefused("url host is an internal or metadata host name")
    if "." not in name:
        raise EgressRefused("url host must be a fully qualified domain name")

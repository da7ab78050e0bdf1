"""Egress policy: which URLs the crawler may reach, and a transport that connects only to checked addresses.

A crawl URL comes from users, so it must never reach the service's own network (cloud metadata at
169.254.169.254, databases on 10.x, the API on 127.0.0.1). The check resolves the host once and the
transport connects to exactly that address, so a DNS answer cannot change between check and connect.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType

import httpx

from forest.crawler.netio import ConnectionCache

log = logging.getLogger(__name__)

# The variables through which httpx (like curl and requests) would send requests to a proxy. Outbound requests
# never go through one: a proxy resolves the name again and connects wherever it likes, so the address this
# module checked would not be the address reached, and a proxy inside the network would carry requests to the
# private addresses the policy refuses. They are ignored, loudly (docs/security.md "Proxies").
PROXY_VARIABLES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"})

# Every address must be globally routable. `ipaddress.is_global` alone is not enough on the Python this
# runs on (3.11.7 calls `fec0::1`, `::127.0.0.1` and `64:ff9b:1::1` global, and its meaning has changed
# between releases), so named ranges come first (their names make the refusals readable), then
# `is_global`, and IPv6 must also lie in global unicast 2000::/3.
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
    )
)
# Local-use NAT64 (RFC 8215) translates into the operator's own network, and where the IPv4 address sits
# depends on the prefix length the operator chose: refused whatever it carries.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_BLOCKED_V6 = (
    *(ipaddress.IPv6Network(net) for net in (
        "::/128",
        "::1/128",
        "100::/64",
        "2001:db8::/32",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )),
    _NAT64_LOCAL,
)
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
# Forms the stdlib does not decode (it has `ipv4_mapped`, `sixtofour` and `teredo` only), whose low 32 bits
# are an IPv4 address: IPv4-compatible ::/96 (RFC 4291, deprecated but still routed to the IPv4 address by
# some stacks) and the well-known NAT64 prefix 64:ff9b::/96 (RFC 6052).
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Resolver = Callable[[str, int], Awaitable[list[str]]]


class UrlNotAllowed(Exception):
    """A URL the egress policy refuses; `reason` says why in words a user understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A URL that passed the policy, with the one address the connection must use."""

    url: httpx.URL
    scheme: str
    host: str
    port: int
    address: str
    allow_listed: bool


def blocked_reason(address: str) -> str | None:
    """Why an IP address may not be reached, or None when it is a globally routable address.

    An IPv6 address that carries an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo)
    is judged by the IPv4 address it carries: that is where the packets end up.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        what = _v4_verdict(ip)
        return f"address {address} is {what}" if what else None
    if ip.is_unspecified or ip.is_loopback:  # inside ::/96, but IPv6's own, not IPv4-compatible forms
        return f"address {address} is {_describe(next(net for net in _BLOCKED_V6 if ip in net))}"
    embedded = _embedded_v4(ip)
    for inner in embedded:
        what = _v4_verdict(inner)
        if what:
            return f"address {address} embeds {inner}, which is {what}"
    if embedded:
        return None
    for net in _BLOCKED_V6:
        if ip in net:
            return f"address {address} is {_describe(net)}"
    if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global:
        return f"address {address} is not globally routable"
    return None


def _v4_verdict(ip: ipaddress.IPv4Address) -> str | None:
    """What makes an IPv4 address unreachable, or None."""
    for net in _BLOCKED_V4:
        if ip in net:
            return _describe(net)
    if not ip.is_global:
        return "not globally routable"
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (none for a plain IPv6 address)."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        server, client = ip.teredo
        return (client, server)  # packets go to the client; a private server is refused all the same
    if ip in _V4_COMPATIBLE or ip in _NAT64:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ()


def _describe(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    if net.is_loopback:
        return f"loopback ({net})"
    if net.is_link_local:
        return f"link-local ({net})"
    if net.is_multicast:
        return f"multicast ({net})"
    if isinstance(net, ipaddress.IPv6Network) and net.is_site_local:
        return f"site-local ({net})"
    if net == _NAT64_LOCAL:
        return f"local-use NAT64 ({net})"
    return f"private or reserved ({net})"


def _normalise_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def bracketed(host: str) -> str:
    """A host as written in a URL or Host header: an IPv6 address goes in brackets (RFC 3986)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (numeric forms like `127.1` included)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EgressPolicy:
    """Decides whether a URL may be fetched; `allow_hosts` holds `host:port` pairs exempt from the address check.

    `remember=True` (a crawl's policy) resolves each host:port once and reuses the checked address;
    scheme, user info and port are still checked on every URL. `purpose` names what the allow-list is
    for in refusals ("crawls", "webhooks"): each has its own.
    """

    def __init__(
        self,
        allow_hosts: Collection[str] = (),
        *,
        resolver: Resolver | None = None,
        remember: bool = False,
        purpose: str = "crawls",
    ) -> None:
        self._purpose = purpose
        self._allowed: set[tuple[str, int]] = set()
        for entry in allow_hosts:
            host, sep, port = entry.strip().rpartition(":")
            if not sep or not port.isdigit() or not host:
                raise ValueError(f"allow-listed host {entry!r} must be written host:port")
            self._allowed.add((_normalise_host(host), int(port)))
        self._resolve = resolver or system_resolver
        # host:port -> the checked address, when `remember` (one crawl): every URL is still checked, but
        # a host is resolved once, and every request of the crawl connects to that same address.
        self._remembered: dict[tuple[str, int], str] | None = {} if remember else None

    def is_allow_listed(self, host: str, port: int) -> bool:
        """Whether `host:port` was explicitly allowed (it may then be a private address)."""
        return (_normalise_host(host), port) in self._allowed

    async def check_url(self, url: str | httpx.URL) -> ResolvedTarget:
        """Resolve and check a URL; raises UrlNotAllowed with the reason when it must not be fetched."""
        try:
            parsed = httpx.URL(url) if isinstance(url, str) else url
        except (httpx.InvalidURL, ValueError) as exc:
            raise UrlNotAllowed(f"invalid URL: {exc}") from exc
        scheme = parsed.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise UrlNotAllowed(f"scheme {scheme or '(none)'!r} is not allowed; use http or https")
        if parsed.userinfo:
            raise UrlNotAllowed("URLs with a user name or password are not allowed")
        host = _normalise_host(parsed.host)
        if not host:
            raise UrlNotAllowed("URL has no host")
        port = parsed.port or _DEFAULT_PORTS[scheme]
        allow_listed = self.is_allow_listed(host, port)
        if not allow_listed and port not in _DEFAULT_PORTS.values():
            raise UrlNotAllowed(f"port {port} is not allowed; only 80 and 443 unless {bracketed(host)}:{port} "
                                f"is allow-listed for {self._purpose}")
        if self._remembered is not None and (address := self._remembered.get((host, port))) is not None:
            return ResolvedTarget(
                url=parsed, scheme=scheme, host=host, port=port, address=address, allow_listed=allow_listed
            )
        try:
            addresses = await self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise UrlNotAllowed(f"host {host} does not resolve: {exc}") from exc
        if not addresses:
            raise UrlNotAllowed(f"host {host} does not resolve")
        if not allow_listed:
            for address in addresses:
                reason = blocked_reason(address)
                if reason:
                    raise UrlNotAllowed(reason if address == host else f"{host} resolves to {reason}")
        if self._remembered is not None:
            self._remembered[(host, port)] = addresses[0]
        return ResolvedTarget(
            url=parsed, scheme=scheme, host=host, port=port, address=addresses[0], allow_listed=allow_listed
        )


def proxy_variables_set(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The proxy variables (any case) set to something in `environ` (default: this process's environment)."""
    env = os.environ if environ is None else environ
    return tuple(sorted(name for name, value in env.items() if name.upper() in PROXY_VARIABLES and value.strip()))


@functools.cache
def _warn_proxies_ignored(names: tuple[str, ...]) -> None:
    # Once per process and set of variables: every crawl and webhook attempt builds a transport.
    log.warning("%s set but ignored: crawls and webhooks connect directly to the address the egress policy checked, "
                "never through a proxy (docs/security.md, Proxies)", ", ".join(names))


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks every request against the policy and connects to the checked address, not a fresh lookup.

    The connection goes to the IP while the `Host` header and TLS SNI keep the name. Connections
    are kept per (scheme, name, port, address), so a TLS connection verified for one name is never
    reused for another.
    """

    def __init__(self, policy: EgressPolicy, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._policy = policy
        if proxies := proxy_variables_set():
            _warn_proxies_ignored(proxies)
        # The default verifies certificates against certifi's roots.
        self._connections = ConnectionCache(ssl_context=ssl_context)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check, pin to the resolved address and send."""
        target = await self._policy.check_url(request.url)
        if "host" not in request.headers:
            request.headers["Host"] = request.url.netloc.decode("ascii")
        if target.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": target.host}
        key = (target.scheme, target.host, target.port, target.address)
        return await self._connections.send(request, key=key, address=target.address)

    async def aclose(self) -> None:
        """Close every connection."""
        await self._connections.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

"""Cross-site requests and DNS rebinding, kept away from the admin API and the dashboard.

Two attacks reach a server on loopback from the operator's own browser:

- **DNS rebinding**: a page of `attacker.example` makes its name resolve to
  127.0.0.1, and is then same-origin with us: it reads `/api/server` and
  deletes rooms. Its requests carry `Host: attacker.example`, so the admin API
  and the dashboard answer only to a `Host` this server is known by
  (`HostRule`): any IP address literal (a rebinding needs a name the attacker
  controls), `localhost` and `*.localhost`, `--http-host` and
  `--advertise-http` when they are names, this machine's host name, and the
  names of `--http-allowed-hosts` (what a proxy in front forwards).
- **Cross-site request forgery**: a page of another origin sends a `no-cors`
  `POST` (or submits a form) to `/api/rooms/.../kick`; the browser cannot let
  it read the answer, but the kick happens. So a state-changing request
  (any method but GET, HEAD, OPTIONS) is refused when the browser says it
  comes from another origin (`Sec-Fetch-Site`, else `Origin` against `Host`:
  the rule of Go's `http.CrossOriginProtection`), and it must be one that a
  form or a `no-cors` fetch cannot make: with `Content-Type: application/json`,
  an `X-Tickcast-Admin` header or an `Authorization` header. A cross-origin
  page could send those only after a CORS preflight, which this server never
  grants.

`/ws`, `/metrics`, the health checks and the static pages are not checked:
WebSocket has its own `Origin` rule (`--ws-allowed-origins`), and the others
hold nothing private and are fetched under names this server cannot know
(a Prometheus target, a Kubernetes probe).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from tickcast.http.refusals import Refusals

if TYPE_CHECKING:
    from tickcast.config import Config

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROTECTED_PREFIXES = ("/api/", "/dashboard/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_HEADER = "X-Tickcast-Admin"
"""A header that marks a state-changing request as made by a script, not a form."""


def split_host(host: str) -> str:
    """The name or address of a `Host` header value, without port or brackets,
    lower case, without a trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        name = host.partition(":")[0]
    else:
        name = host  # a bare name, or an IPv6 address without brackets
    return name.rstrip(".")


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostRule:
    """The `Host` names the admin API and the dashboard answer to (besides IP
    literals and localhost, which are always fine)."""

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".example.com": its subdomains and itself
    any_host: bool = False
    listed: tuple[str, ...] = field(default=(), compare=False)  # for messages

    @classmethod
    def from_config(cls, config: Config) -> HostRule:
        names = {socket.gethostname().lower()}
        for address in (config.http_host, config.advertise_http.rpartition(":")[0]):
            if address and not is_ip_literal(split_host(address)):
                names.add(split_host(address))
        suffixes = []
        listed = []
        any_host = False
        for entry in config.http_allowed_hosts.split(","):
            entry = entry.strip().lower().rstrip(".")
            if not entry:
                continue
            listed.append(entry)
            if entry == "*":
                any_host = True
            elif entry.startswith("."):
                suffixes.append(entry)
            else:
                names.add(split_host(entry))
        return cls(frozenset(names), tuple(suffixes), any_host, tuple(listed))

    def allows(self, host: str | None) -> bool:
        if host is None or self.any_host:
            return True  # no Host at all: HTTP/1.0, not a browser
        name = split_host(host)
        if is_ip_literal(name) or name == "localhost" or name.endswith(".localhost"):
            return True
        if name in self.names:
            return True
        return any(name.endswith(s) or name == s[1:] for s in self.suffixes)


def cross_site(headers: Mapping[str, str]) -> str | None:
    """Why a state-changing request comes from another site (None: it does not).

    `Sec-Fetch-Site` is sent by every current browser and cannot be set by a
    page; without it, `Origin` (sent with every cross-origin request that can
    change state) must name the `Host` the request went to. A request with
    neither is not from a browser's page."""
    fetch_site = headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        if fetch_site.lower() in ("same-origin", "none"):
            return None
        return f"Sec-Fetch-Site: {fetch_site}"
    origin = headers.get("Origin")
    if origin is None:
        return None
    if origin.strip().lower() == "null":
        return "Origin: null"
    try:
        origin_host = urlsplit(origin.strip()).netloc.lower()
    except ValueError:
        return f"Origin: {origin!r} is not a URL"
    if origin_host and origin_host == headers.get("Host", "").strip().lower():
        return None
    return f"Origin {origin} is not this server"


def is_simple(headers: Mapping[str, str]) -> bool:
    """True if a form or a `no-cors` fetch could have made this request: it carries
    neither a JSON Content-Type nor a header such a request cannot set."""
    content_type = headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if content_type == "application/json":
        return False
    return ADMIN_HEADER not in headers and "Authorization" not in headers


def crosssite_guard(rule: HostRule, refusals: Refusals) -> Middleware:
    """The middleware: the Host check, then for state-changing requests the
    cross-site checks, on the admin API and the dashboard's feed."""

    def forbidden(request: web.Request, reason: str, detail: str, error: str) -> web.Response:
        refusals.refuse(reason, request.remote or "", detail)
        return web.json_response({"error": error}, status=403)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PROTECTED_PREFIXES):
            return await handler(request)
        host = request.headers.get("Host")
        if not rule.allows(host):
            return forbidden(
                request, "host", f"Host {host!r} on {request.method} {request.path}",
                f"Host {host!r} is not a name of this server: add it to "
                "--http-allowed-hosts if a proxy forwards it",
            )
        if request.method in SAFE_METHODS:
            return await handler(request)
        why = cross_site(request.headers)
        if why is not None:
            return forbidden(
                request, "origin", f"{why} on {request.method} {request.path}",
                f"a cross-site request cannot change this server ({why})",
            )
        if is_simple(request.headers):
            return forbidden(
                request, "simple_request", f"{request.method} {request.path} without a "
                f"JSON Content-Type, {ADMIN_HEADER} or Authorization",
                f"a state-changing request needs Content-Type: application/json or an "
                f"{ADMIN_HEADER} header (or Authorization), so that a web form cannot "
                "make it",
            )
        return await handler(request)

    return guard

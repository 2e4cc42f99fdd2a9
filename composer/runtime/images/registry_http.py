"""HTTP to one registry: endpoint and TLS choice, the auth challenge, and errors users can act on.

With `build/remote.py` (ADD <url>), the only modules that import httpx. Transport rules
are Docker's: `localhost`, 127.0.0.0/8 and `::1` registries, and those named in
`insecure-registries` (see `registry_config`), are tried over HTTPS without
certificate checks and then over plain HTTP; every other registry is HTTPS with verification.
Extra CAs come from `/etc/docker/certs.d/<host[:port]>/*.crt` (client certs from `*.cert`/`*.key`,
as Docker reads them; `COMPOSER_CERTS_D` moves that directory) and from `COMPOSER_REGISTRY_CA`.

Auth follows the distribution spec: ping `/v2/`; a 401 names the scheme. `Bearer` means fetch a
token from the realm (with basic credentials when we have some) for the scopes a request needs,
cached per scope set; `Basic` means send the credentials on every request.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from composer.errors import ComposerError
from composer.runtime.images.auth import Credentials, lookup
from composer.runtime.images.registry_config import insecure_registries

DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
_READ_SIZE = 1 << 20
"""Bytes per socket read. httpcore reads 64 KiB at a time; a pull receives hundreds of megabytes, and
1 MiB reads halve the CPU the event loop spends receiving them (measured: 0.17 s -> 0.09 s for 170 MB)."""


def _larger_reads() -> None:
    """Raise httpcore's per-read size (a class constant, no public setting; absent in a future version: no-op)."""
    import httpcore._async.http11 as http11

    connection = getattr(http11, "AsyncHTTP11Connection", None)
    if connection is not None and getattr(connection, "READ_NUM_BYTES", _READ_SIZE) < _READ_SIZE:
        connection.READ_NUM_BYTES = _READ_SIZE


_larger_reads()
_TIMEOUT = httpx.Timeout(connect=15.0, read=120.0, write=120.0, pool=120.0)
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')

HTTPError = httpx.HTTPError
Response = httpx.Response


def registry_host(domain: str) -> str:
    return DOCKER_HUB_ENDPOINT if domain == "docker.io" else domain


def _bare_host(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_insecure(host: str) -> bool:
    """Whether plain HTTP (and unchecked TLS) is allowed for this registry."""
    bare = _bare_host(host)
    if bare == "localhost":
        return True
    try:
        if ipaddress.ip_address(bare).is_loopback:
            return True
    except ValueError:
        pass
    configured = insecure_registries()
    return host in configured or bare in configured


def _certs_dir(host: str) -> Path:
    base = Path(os.environ.get("COMPOSER_CERTS_D") or "/etc/docker/certs.d")
    return base / host


def ssl_context(host: str, *, verify: bool = True) -> ssl.SSLContext:
    """System CAs plus the registry's own (certs.d, COMPOSER_REGISTRY_CA) and client certificate.
    Without `verify` the system CAs are not loaded (about 15 ms that nothing would use)."""
    if verify:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    extra = os.environ.get("COMPOSER_REGISTRY_CA")
    folder = _certs_dir(host)
    cafiles = [Path(extra)] if extra else []
    if folder.is_dir():
        cafiles.extend(sorted(folder.glob("*.crt")))
        for cert in sorted(folder.glob("*.cert")):
            key = cert.with_suffix(".key")
            if not key.is_file():
                raise ComposerError(f"client certificate {cert} has no key {key.name}")
            ctx.load_cert_chain(cert, key)
    for cafile in cafiles:
        try:
            ctx.load_verify_locations(cafile=str(cafile))
        except (OSError, ssl.SSLError) as err:
            raise ComposerError(f"cannot load CA certificate {cafile}: {err}") from None
    return ctx


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


@dataclass
class Session:
    """One registry, its endpoint and auth state, shared by every request of a pull or push."""

    host: str
    what: str
    """The reference the user named, for error messages."""
    client: httpx.AsyncClient | None = None
    base: str = ""
    scheme: str = ""
    params: dict[str, str] = field(default_factory=dict)
    creds: Credentials | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    given: Credentials | None = None
    """Credentials to use instead of the stored ones (`composer login` checks them before saving)."""
    only_scheme: str | None = None
    """A mirror's URL names its scheme: only that one is tried."""

    async def __aenter__(self) -> Session:
        self.creds = self.given or lookup(self.host if self.host != DOCKER_HUB_ENDPOINT else "docker.io")
        insecure = is_insecure(self.host)
        schemes = ["https", "http"] if insecure else ["https"]
        if self.only_scheme is not None:
            schemes = [self.only_scheme]
        last: Exception | None = None
        for scheme in schemes:
            ctx = ssl_context(self.host, verify=not insecure or self._has_ca()) if scheme == "https" else False
            client = httpx.AsyncClient(verify=ctx, timeout=_TIMEOUT, follow_redirects=True,
                                       limits=httpx.Limits(max_connections=16, max_keepalive_connections=16))
            try:
                ping = await client.get(f"{scheme}://{self.host}/v2/")
            except httpx.HTTPError as err:
                await client.aclose()
                last = err
                continue
            if ping.status_code not in (200, 401) and ping.status_code < 500:
                await client.aclose()  # e.g. 400 from a TLS server spoken to in plain HTTP
                last = ComposerError(f"/v2/ answered {ping.status_code}")
                continue
            self.client, self.base = client, f"{scheme}://{self.host}"
            self._learn(ping)
            return self
        raise ComposerError(f"{self.what}: registry {self.host} is unreachable: {_reason(last)}")

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.aclose()

    def _has_ca(self) -> bool:
        return bool(os.environ.get("COMPOSER_REGISTRY_CA")) or any(_certs_dir(self.host).glob("*.crt"))

    def _learn(self, response: httpx.Response) -> None:
        if response.status_code == 401:
            header = response.headers.get("www-authenticate", "")
            self.scheme, self.params = parse_challenge(header)
        elif response.status_code >= 500:
            raise ComposerError(f"{self.what}: registry {self.host} answered {response.status_code}")

    async def _token(self, scopes: tuple[str, ...]) -> str:
        key = " ".join(scopes)
        if key in self.tokens:
            return self.tokens[key]
        assert self.client is not None
        realm = self.params.get("realm")
        if not realm:
            raise ComposerError(f"{self.what}: registry {self.host} asks for a token but names no realm")
        query: list[tuple[str, str | int | float | bool | None]] = []
        if self.params.get("service"):
            query.append(("service", self.params["service"]))
        query.extend(("scope", s) for s in scopes)
        auth: tuple[str, str] | None = None
        if self.creds is not None and self.creds.identity_token:
            response = await self.client.post(realm, data={
                "grant_type": "refresh_token", "refresh_token": self.creds.identity_token,
                "service": self.params.get("service", ""), "scope": " ".join(scopes),
                "client_id": "composer"})
        else:
            if self.creds is not None:
                auth = (self.creds.username, self.creds.password)
            try:
                response = await self.client.get(realm, params=query, auth=auth)
            except httpx.HTTPError as err:
                raise ComposerError(f"{self.what}: token service {realm} is unreachable: {_reason(err)}") from None
        if response.status_code in (401, 403):
            raise ComposerError(f"{self.what}: unauthorized: the token service refused the credentials"
                                f"{_hint(self.host, self.creds)}")
        if response.status_code != 200:
            raise ComposerError(f"{self.what}: token service {realm} answered {response.status_code}")
        try:
            doc = response.json()
            token = str(doc.get("token") or doc.get("access_token"))
        except (ValueError, AttributeError):
            raise ComposerError(f"{self.what}: token service {realm} sent no token") from None
        self.tokens[key] = token
        return token

    async def _headers(self, scopes: tuple[str, ...]) -> dict[str, str]:
        if self.scheme == "bearer":
            return {"Authorization": f"Bearer {await self._token(scopes)}"}
        if self.scheme == "basic":
            if self.creds is None:
                raise ComposerError(f"{self.what}: unauthorized: authentication required{_hint(self.host, None)}")
            raw = f"{self.creds.username}:{self.creds.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    async def check_login(self) -> None:
        """Prove the credentials work: a token without scopes, or `/v2/` with basic auth."""
        assert self.client is not None
        if self.scheme == "bearer":
            await self._token(())
            return
        response = await self.send("GET", "/v2/", ())
        if response.status_code != 200:
            raise self.fail(response, "logging in")

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base}{path}"

    async def send(self, method: str, path: str, scopes: tuple[str, ...], *,
                   headers: Mapping[str, str] | None = None, content: Any = None,
                   params: Mapping[str, str] | None = None, stream: bool = False) -> httpx.Response:
        """One request with auth; a 401 (expired token, new challenge) is retried once."""
        assert self.client is not None
        for attempt in (1, 2):
            merged = {**(headers or {}), **await self._headers(scopes)}
            request = self.client.build_request(method, self.url(path), headers=merged, content=content,
                                                params=params)
            self.requests += 1
            try:
                response = await self.client.send(request, stream=stream)
            except httpx.HTTPError as err:
                raise ComposerError(f"{self.what}: registry {self.host} is unreachable: {_reason(err)}") from None
            if response.status_code != 401 or attempt == 2 or (content is not None and not isinstance(content,
                                                                                                    bytes)):
                return response
            await response.aclose()
            self.tokens.pop(" ".join(scopes), None)
            self._learn(response)
        raise AssertionError("unreachable")

    def fail(self, response: httpx.Response, doing: str) -> ComposerError:
        """The one-line error for an unexpected answer."""
        code = response.status_code
        detail = _error_detail(response)
        if code == 401:
            return ComposerError(f"{self.what}: unauthorized: authentication required{_hint(self.host, self.creds)}")
        if code == 403:
            return ComposerError(f"{self.what}: denied: {detail or 'access forbidden'}{_hint(self.host, self.creds)}")
        return ComposerError(f"{self.what}: {doing}: registry answered {code}{': ' + detail if detail else ''}")


def _error_detail(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(str(e.get("message") or e.get("code")) for e in errors)
    except Exception:
        return ""


def _hint(host: str, creds: Credentials | None) -> str:
    server = "" if host == DOCKER_HUB_ENDPOINT else f" {host}"
    return f" (run `composer login{server}`)" if creds is None else " (check the credentials of `composer login`)"


def _reason(err: BaseException | None) -> str:
    if err is None:
        return "no answer"
    text = str(err) or type(err).__name__
    return text.splitlines()[0]


class DownloadCut(ComposerError):
    """The connection broke during a body: what arrived is good, and a later request can resume."""


async def body_chunks(response: httpx.Response, size: int = 1 << 20) -> AsyncIterator[bytes]:
    """The body in chunks of about `size` bytes. A connection lost halfway is a one-line error, raised
    after what did arrive was handed out (a pull keeps it and resumes from there)."""
    parts: list[bytes] = []
    held = 0
    try:
        async for data in response.aiter_bytes():
            parts.append(data)
            held += len(data)
            if held >= size:
                yield b"".join(parts)
                parts, held = [], 0
    except httpx.HTTPError as err:
        if parts:
            yield b"".join(parts)
        raise DownloadCut(f"the connection to {response.request.url.netloc.decode()} broke during the download: "
                            f"{_reason(err)} (run the command again to resume)") from None
    if parts:
        yield b"".join(parts)

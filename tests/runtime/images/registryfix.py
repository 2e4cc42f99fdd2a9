"""Real registries for the registry-client tests: Debian's `docker-registry` on 127.0.0.1.

Three session-scoped setups: open over plain HTTP; basic auth (bcrypt htpasswd) over TLS with a
CA and server certificate made here; token auth, with a token issuer run from this module as a
subprocess that signs ES256 JWTs with a key whose self-signed certificate the registry trusts.
Each registry's log is kept, so tests count the requests that reached it.
Import the fixtures with `from tests.runtime.images.registryfix import *`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

REGISTRY = "/usr/bin/docker-registry"
PORTS = range(29300, 29400)
USER, PASSWORD = "tester", "s3cret-pass"


def free_port() -> int:
    """A free port of the range reserved for these tests (random start: parallel workers)."""
    start = secrets.randbelow(len(PORTS))
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 29300-29399")


@dataclass
class Registry:
    """A running registry: its address, log and the environment a client needs."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests(self, method: str, pattern: str) -> int:
        """How many finished requests the log shows for a method and a URI regex."""
        count = 0
        uri = re.compile(pattern)
        for line in self.log.read_text(errors="replace").splitlines():
            if "response completed" not in line:
                continue
            m = re.search(r'http\.request\.method=(\w+)', line)
            u = re.search(r'http\.request\.uri=(?:"([^"]*)"|(\S+))', line)
            if m and u and m.group(1) == method and uri.search(u.group(1) or u.group(2)):
                count += 1
        return count


def _write_config(root: Path, port: int, extra: str) -> Path:
    storage = root / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(f"""version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{extra}""")
    return config


def _start(root: Path, extra: str, scheme: str, ca: Path | None = None) -> Iterator[Registry]:
    if not Path(REGISTRY).is_file():
        pytest.skip("docker-registry is not installed (apt-get install -y docker-registry)")
    port = free_port()
    config = _write_config(root, port, extra.replace("@PORT@", str(port)))
    log = root / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    registry = Registry(port, log, process)
    try:
        _wait(f"{scheme}://127.0.0.1:{port}/v2/", ca, process, log)
        yield registry
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(url: str, ca: Path | None, process: subprocess.Popen[bytes], log: Path) -> None:
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"registry exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2, context=ctx)
            return
        except urllib.error.HTTPError:
            return  # 401: up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"registry did not come up: {log.read_text()[-2000:]}")


# -- certificates and keys ---------------------------------------------------------------------------


def make_ca_and_server(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key) for 127.0.0.1, made with `cryptography`."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "composer test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def make_signing_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed ES256 key and certificate: the registry's token root bundle and the issuer's key."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "composer test token issuer")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "token.crt", folder / "token.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _htpasswd(path: Path) -> None:
    tool = shutil.which("htpasswd")
    if tool is not None:
        line = subprocess.run([tool, "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True).stdout
    else:
        bcrypt = pytest.importorskip("bcrypt", reason="needs htpasswd (apache2-utils) or python bcrypt")
        line = f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt()).decode()}\n"
    path.write_text(line.strip() + "\n")


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Anonymous, plain HTTP."""
    yield from _start(tmp_path_factory.mktemp("registry-open"), "", "http")


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """htpasswd (bcrypt) basic auth over TLS; `env` trusts the test CA."""
    root = tmp_path_factory.mktemp("registry-basic")
    ca, cert, key = make_ca_and_server(root)
    _htpasswd(root / "htpasswd")
    extra = f"""  tls:
    certificate: {cert}
    key: {key}
auth:
  htpasswd:
    realm: composer-test
    path: {root / "htpasswd"}
"""
    for registry in _start(root, extra, "https", ca):
        registry.env = {"COMPOSER_REGISTRY_CA": str(ca)}
        yield registry


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """`auth: token` with an issuer on another port that wants basic credentials."""
    root = tmp_path_factory.mktemp("registry-token")
    cert, key = make_signing_cert(root)
    issuer_port = free_port()
    issuer_log = open(root / "issuer.log", "wb")  # noqa: SIM115
    issuer = subprocess.Popen([sys.executable, "-m", "tests.runtime.images.registryfix", str(issuer_port), str(key),
                               str(cert)], stdout=issuer_log, stderr=subprocess.STDOUT,
                              cwd=Path(__file__).resolve().parents[3])
    extra = f"""auth:
  token:
    realm: http://127.0.0.1:{issuer_port}/token
    service: composer-test-registry
    issuer: composer-test-issuer
    rootcertbundle: {cert}
"""
    try:
        _wait(f"http://127.0.0.1:{issuer_port}/health", None, issuer, root / "issuer.log")
        yield from _start(root, extra, "http")
    finally:
        issuer.terminate()
        issuer.wait(timeout=10)
        issuer_log.close()


# -- the token issuer (run as `python -m tests.runtime.images.registryfix PORT KEY CERT`) ----------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_token(key_pem: bytes, cert_pem: bytes, access: list[dict[str, Any]], *, service: str,
               issuer: str, subject: str) -> str:
    """An ES256 JWT the distribution registry accepts (`x5c` names the trusted certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    now = int(time.time())
    header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": issuer, "sub": subject, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
              "jti": secrets.token_hex(8), "access": access}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _serve(port: int, key_path: str, cert_path: str) -> None:
    key_pem, cert_pem = Path(key_path).read_bytes(), Path(cert_path).read_bytes()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            from urllib.parse import parse_qs, urlparse

            url = urlparse(self.path)
            if url.path == "/health":
                self._reply(200, {})
                return
            if self.headers.get("Authorization") != expected:
                self._reply(401, {"details": "bad credentials"})
                return
            query = parse_qs(url.query)
            access = []
            for scope in " ".join(query.get("scope", [])).split():
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            token = sign_token(key_pem, cert_pem, access, service=query.get("service", [""])[0],
                               issuer="composer-test-issuer", subject=USER)
            self._reply(200, {"token": token, "expires_in": 300})

        def _reply(self, code: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")
            sys.stderr.flush()

    with contextlib.suppress(KeyboardInterrupt):
        HTTPServer(("127.0.0.1", port), Handler).serve_forever()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    _serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])

"""`ADD <url>`: what a source names (a URL, a git repository, a local path) and the HTTP(S) download.

As Docker's builder does it: a GET that follows redirects; anything but 200 is an error; the body is
hashed while it is written to a scratch file, which gets mode 0600 and, when the server sends
`Last-Modified`, that time as its mtime. The file's name in the image comes from the URL's path (its
last segment, unquoted), else from a `Content-Disposition` filename; a URL without either has no name.
Errors are ComposerError with one line, which the builder prefixes with the Dockerfile line.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import os
import posixpath
import re
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import httpx

from composer.errors import ComposerError

_TIMEOUT = httpx.Timeout(60.0, connect=15.0)
_CHUNK = 1 << 20
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CHECKSUM = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]+)$")
_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it (`https://user:token@host`) replaced by `***`, for
    progress lines, errors and the image history, as BuildKit does."""
    return _USERINFO.sub(r"\1***@", text)


def is_url(source: str) -> bool:
    """Whether an ADD source is a URL (`scheme://...`) or a git remote (`git@host:...`), not a context path."""
    return bool(_SCHEME.match(source)) or source.startswith("git@")


def is_http(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def is_git(source: str) -> bool:
    """A git repository as Docker's builder recognizes one: `git@...`, `git://...`, or a URL whose path
    ends with `.git` (a `#ref:dir` fragment allowed)."""
    if source.startswith("git@") or source.lower().startswith("git://"):
        return True
    if not _SCHEME.match(source):
        return False
    path = urllib.parse.urlsplit(source).path
    return path.rstrip("/").endswith(".git")


def parse_checksum(text: str) -> tuple[str, str]:
    """`sha256:<hex>` -> ("sha256", "<hex>"); sha384 and sha512 are accepted too."""
    match = _CHECKSUM.fullmatch(text.strip())
    if match is None or len(match.group(2)) != _HEX_LENGTH[match.group(1)]:
        raise ComposerError(f"--checksum={text}: expected sha256:<64 hex digits>")
    return match.group(1), match.group(2)


@dataclass(frozen=True, slots=True)
class Download:
    url: str
    path: Path
    """The downloaded file, mode 0600, its mtime the server's Last-Modified when it sent one."""
    name: str | None
    """Its file name in the image when the destination is a directory; None when the URL gives none."""
    digest: str
    """`sha256:<hex>` of the content."""
    size: int

    def matches(self, checksum: str) -> str | None:
        """None when the content has the digest `checksum`, else the content's digest in that algorithm."""
        algorithm, expected = parse_checksum(checksum)
        if algorithm == "sha256":
            actual = self.digest.split(":", 1)[1]
        else:
            hasher = hashlib.new(algorithm)
            with open(self.path, "rb") as src:
                while chunk := src.read(_CHUNK):
                    hasher.update(chunk)
            actual = hasher.hexdigest()
        return None if actual == expected else f"{algorithm}:{actual}"


def file_name(url: str, content_disposition: str | None = None) -> str | None:
    """The last segment of the URL's path (unquoted), else the Content-Disposition filename, else None."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    if path and not path.endswith("/"):
        name = posixpath.basename(path)
        if name not in ("", ".", ".."):
            return name
    if content_disposition:
        msg = Message()
        msg["content-disposition"] = content_disposition
        given = msg.get_filename()
        if given and not given.endswith(("/", "\\")):
            name = posixpath.basename(given.replace("\\", "/"))
            if name not in ("", ".", ".."):
                return name
    return None


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text.splitlines()[0])


def download(url: str, target: Path, *, on_progress: Callable[[str], None] | None = None,
             client: httpx.Client | None = None) -> Download:
    """GET `url` into the file `target` (created, mode 0600); errors say `ADD <url>: ...`."""
    what = f"ADD {redact(url)}"
    if not is_http(url):
        raise ComposerError(f"{what}: only http:// and https:// URLs can be added")
    own = client is None
    session = client if client is not None else httpx.Client(  # the system's CAs, as for registries
        follow_redirects=True, timeout=_TIMEOUT, verify=ssl.create_default_context())
    hasher = hashlib.sha256()
    size = 0
    try:
        try:
            with session.stream("GET", url) as response:
                if response.status_code != 200:
                    reason = response.reason_phrase or ""
                    raise ComposerError(f"{what}: the server answered {response.status_code} {reason}".rstrip())
                name = file_name(url, response.headers.get("content-disposition"))
                modified = response.headers.get("last-modified")
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    for chunk in response.iter_bytes(_CHUNK):
                        hasher.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        except httpx.InvalidURL as err:
            raise ComposerError(f"{what}: invalid URL: {_reason(err)}") from None
        except httpx.TimeoutException:
            raise ComposerError(f"{what}: the server did not answer in time") from None
        except httpx.ConnectError as err:
            host = urllib.parse.urlsplit(url).hostname or "the server"
            raise ComposerError(f"{what}: cannot reach {host}: {_reason(err)}") from None
        except httpx.HTTPError as err:
            raise ComposerError(f"{what}: the download failed: {_reason(err)}") from None
        except OSError as err:
            raise ComposerError(f"{what}: cannot write the download: {err.strerror or err}") from None
    finally:
        if own:
            session.close()
    os.chmod(target, 0o600)
    when = _http_time(modified)
    if when is not None:
        os.utime(target, (when, when))
    digest = "sha256:" + hasher.hexdigest()
    if on_progress is not None:
        on_progress(f"downloaded {redact(url)}: {size} bytes, {digest}")
    return Download(url, target, name, digest, size)


def _http_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return (when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)).timestamp()


__all__ = ["Download", "download", "file_name", "is_git", "is_http", "is_url", "parse_checksum"]

"""`ADD <url>` on real runc: files downloaded from a loopback HTTP server, the cache, and the errors."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from composer.runtime.build import remote
from tests.cli.harness import run_cli
from tests.runtime.build.test_build import BASE, build, context, run_image
from tests.runtime.engine.enginefix import EngineEnv

LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
LAST_MODIFIED_EPOCH = 1445412480


@dataclass
class Served:
    """What the server answers, by path: (status, body, extra headers); editable while it runs."""

    files: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    base: str = ""


@pytest.fixture
def http() -> Iterator[Served]:
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            status, body, headers = served.files.get(self.path, (404, b"not here\n", {}))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _tar_gz() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        data = b"inside\n"
        info = tarfile.TarInfo("inner.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.root
def test_add_url_downloads_into_a_directory_and_onto_a_file(eng: EngineEnv, http: Served) -> None:
    archive = _tar_gz()
    http.files["/files/hello%20world.txt"] = (200, b"hello from http\n", {"Last-Modified": LAST_MODIFIED})
    http.files["/files/data.tar.gz"] = (200, archive, {})
    http.files["/redirect/plain.txt"] = (302, b"", {"Location": "/files/plain-target"})
    http.files["/files/plain-target"] = (200, b"plain\n", {})
    http.files["/download/"] = (200, b"no name\n", {})
    ctx = context(eng, {"Dockerfile": f"""\
FROM {BASE}
ADD {http.base}/files/hello%20world.txt /dest/
ADD {http.base}/files/data.tar.gz /dest/
ADD {http.base}/files/hello%20world.txt /opt/renamed.txt
ADD {http.base}/download/ /opt/named.bin
WORKDIR /mixed
ADD --chmod=0640 --chown=65534:65534 {http.base}/redirect/plain.txt local.txt ./
CMD ["sh", "-c", "ls /dest; cat '/dest/hello world.txt' /opt/renamed.txt /opt/named.bin /mixed/plain.txt; \\
stat -c '%n %a %u %g %Y' '/dest/hello world.txt' /opt/renamed.txt; stat -c '%n %a %u %g %s' \\
/dest/data.tar.gz /opt/named.bin /mixed/plain.txt /mixed/local.txt"]
""", "local.txt": "local\n"})
    result = build(eng, "-t", "added/url", str(ctx))
    assert result.code == 0, result.stderr
    assert f"downloading {http.base}/files/hello%20world.txt" in result.stderr
    assert "downloaded " in result.stderr
    # one download per URL and build, though hello world.txt is added twice
    assert http.requests.count("/files/hello%20world.txt") == 1
    run = run_image(eng, "added/url")
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines() == [
        "data.tar.gz",  # not unpacked: no inner.txt
        "hello world.txt",
        "hello from http", "hello from http", "no name", "plain",
        f"/dest/hello world.txt 600 0 0 {LAST_MODIFIED_EPOCH}",
        f"/opt/renamed.txt 600 0 0 {LAST_MODIFIED_EPOCH}",
        f"/dest/data.tar.gz 600 0 0 {len(archive)}",
        "/opt/named.bin 600 0 0 8",
        "/mixed/plain.txt 640 65534 65534 6",  # the name from the URL, not from the redirect's target
        "/mixed/local.txt 640 65534 65534 6",
    ], run.stderr


@pytest.mark.root
def test_unchanged_remote_file_is_a_cache_hit_and_a_changed_one_rebuilds(eng: EngineEnv, http: Served) -> None:
    http.files["/app.txt"] = (200, b"version 1\n", {})
    ctx = context(eng, {"Dockerfile": f"""\
FROM {BASE}
COPY local.txt /local.txt
ADD {http.base}/app.txt /srv/
RUN cat /srv/app.txt > /srv/copy.txt
CMD ["cat", "/srv/copy.txt"]
""", "local.txt": "local\n"})
    first = build(eng, "-q", "-t", "remote", str(ctx))
    assert first.code == 0, first.stderr
    image_id = first.stdout.strip()
    again = build(eng, "-t", "remote", str(ctx))
    assert again.code == 0, again.stderr
    assert again.stderr.count("CACHED") == 3, again.stderr
    assert "3/3 layer steps cached" in again.stderr
    assert image_id in again.stderr
    assert http.requests.count("/app.txt") == 2  # downloaded on every build, as Docker's builder does
    http.files["/app.txt"] = (200, b"version 2\n", {})
    changed = build(eng, "-t", "remote", str(ctx))
    assert changed.code == 0, changed.stderr
    assert "1/3 layer steps cached" in changed.stderr  # COPY only: from the ADD on, all is rebuilt
    assert image_id not in changed.stderr
    assert run_image(eng, "remote").stdout == "version 2\n"
    leftovers = list((eng.engine.roots.state_root / "build" / "work").iterdir())
    assert leftovers == []  # the downloads went with their scratch directory


@pytest.mark.root
def test_add_url_with_a_good_checksum(eng: EngineEnv, http: Served) -> None:
    body = b"checked\n"
    http.files["/checked.txt"] = (200, body, {})
    ctx = context(eng, {"Dockerfile": f"""\
FROM {BASE}
ARG SUM=sha256:{hashlib.sha256(body).hexdigest()}
ADD --checksum=$SUM {http.base}/checked.txt /checked.txt
CMD ["cat", "/checked.txt"]
"""})
    result = build(eng, "-t", "checked", str(ctx))
    assert result.code == 0, result.stderr
    assert run_image(eng, "checked").stdout == "checked\n"


def test_url_credentials_never_show(eng: EngineEnv, http: Served) -> None:
    """`https://user:token@host/...`: neither the progress, nor an error, nor the history shows the token."""
    http.files["/private.txt"] = (200, b"private\n", {})
    with_token = http.base.replace("http://", "http://builder:s3cr3t-t0ken@")
    ctx = context(eng, {"Dockerfile": f"FROM {BASE}\nADD {with_token}/private.txt /private.txt\n"})
    good = build(eng, "-t", "private", str(ctx))
    assert good.code == 0, good.stderr
    assert "s3cr3t-t0ken" not in good.stderr + good.stdout
    assert "builder:***@" not in good.stderr
    assert "***@127.0.0.1" in good.stderr
    history = run_cli(eng.tmp, ["image", "history", "--no-trunc", "private"], env=eng.env)
    assert history.code == 0, history.stderr
    assert "s3cr3t-t0ken" not in history.stdout
    rows = [json.loads(line) for line in run_cli(eng.tmp, ["image", "history", "--format", "json", "private"],
                                                  env=eng.env).stdout.splitlines()]
    assert rows[0]["CreatedBy"].startswith("ADD http://***@127.0.0.1")
    assert set(rows[0]) == {"ID", "CreatedSince", "CreatedAt", "CreatedBy", "Size", "Comment"}
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nADD {with_token}/missing.txt /m.txt\n")
    bad = build(eng, "-t", "private2", str(ctx))
    assert bad.code == 1
    assert "s3cr3t-t0ken" not in bad.stderr + bad.stdout
    assert "the server answered 404" in bad.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


WRONG = "sha256:" + "0" * 64


@pytest.mark.root
@pytest.mark.parametrize(("instruction", "words"), [
    (f"ADD --checksum={WRONG} {{base}}/file.txt /f", [
        f"checksum mismatch: expected {WRONG}", "sha256:" + hashlib.sha256(b"content\n").hexdigest()]),
    ("ADD --checksum=sha256:abc {base}/file.txt /f", ["--checksum=sha256:abc: expected sha256:<64 hex digits>"]),
    (f"ADD --checksum={WRONG} local.txt /f", ["--checksum works only with http:// and https:// sources"]),
    (f"COPY --checksum={WRONG} local.txt /f", ["COPY --checksum: the flag is only for ADD"]),
    ("ADD {base}/missing.txt /f", ["ADD {base}/missing.txt: the server answered 404 Not Found"]),
    ("ADD {base}/broken.txt /f", ["ADD {base}/broken.txt: the server answered 500 Internal Server Error"]),
    ("ADD http://127.0.0.1:{closed}/x.txt /f", ["ADD http://127.0.0.1:{closed}/x.txt: cannot reach 127.0.0.1:"]),
    ("ADD git@github.com:example/repo.git /src", ["ADD from a git repository is not supported by composer's"]),
    ("ADD git://127.0.0.1/repo /src", ["ADD from a git repository is not supported"]),
    ("ADD {base}/repo.git#main /src", ["ADD from a git repository is not supported"]),
    ("ADD ftp://127.0.0.1/x.txt /f", ["ADD ftp://127.0.0.1/x.txt: only http:// and https:// URLs can be added"]),
    ("COPY {base}/file.txt /f", ["a source cannot be a URL for COPY"]),
    ("ADD {base}/ /dir/", ["the URL names no file"]),
    ("ADD {base}/file.txt local.txt /not-a-dir", ["the destination must be a directory"]),
])
def test_add_url_errors_name_their_line(eng: EngineEnv, http: Served, instruction: str, words: list[str]) -> None:
    http.files["/file.txt"] = (200, b"content\n", {})
    http.files["/"] = (200, b"index\n", {})
    http.files["/broken.txt"] = (500, b"oops\n", {})
    fill = {"base": http.base, "closed": str(_closed_port())}
    ctx = context(eng, {"Dockerfile": f"FROM {BASE}\nENV A=1\n{instruction.format(**fill)}\n", "local.txt": "l\n"})
    result = build(eng, "-t", "bad", str(ctx))
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "Dockerfile:3: " in result.stderr, result.stderr
    for word in words:
        assert word.format(**fill) in result.stderr, result.stderr
    work = eng.engine.roots.state_root / "build" / "work"
    assert not work.exists() or not list(work.iterdir())  # no download left behind


@pytest.mark.parametrize(("url", "disposition", "name"), [
    ("http://h/a/b.txt", None, "b.txt"),
    ("http://h/a/hello%20world.txt?x=1#frag", None, "hello world.txt"),
    ("http://h/a%2Fb", None, "b"),
    ("http://h/dir/", None, None),
    ("http://h", None, None),
    ("http://h/", 'attachment; filename="report.csv"', "report.csv"),
    ("http://h/", 'attachment; filename="../x/y.bin"', "y.bin"),
    ("http://h/..", None, None),
])
def test_file_name_from_the_url(url: str, disposition: str | None, name: str | None) -> None:
    assert remote.file_name(url, disposition) == name


@pytest.mark.parametrize(("source", "url", "git"), [
    ("https://h/x.tar.gz", True, False),
    ("https://github.com/o/r.git", True, True),
    ("https://github.com/o/r.git#main:sub", True, True),
    ("git@github.com:o/r.git", True, True),
    ("git://h/r", True, True),
    ("local/dir", False, False),
    ("repo.git", False, False),
])
def test_url_and_git_sources_are_told_apart(source: str, url: bool, git: bool) -> None:
    assert remote.is_url(source) is url
    assert remote.is_git(source) is git


def test_a_download_has_mode_0600_and_the_servers_time(tmp_path: Path, http: Served) -> None:
    http.files["/t.bin"] = (200, b"x" * 3, {"Last-Modified": LAST_MODIFIED})
    got = remote.download(f"{http.base}/t.bin", tmp_path / "0")
    assert (got.name, got.size, got.digest) == ("t.bin", 3, "sha256:" + hashlib.sha256(b"xxx").hexdigest())
    stat = (tmp_path / "0").stat()
    assert (stat.st_mode & 0o777, int(stat.st_mtime)) == (0o600, LAST_MODIFIED_EPOCH)
    assert got.matches("sha512:" + hashlib.sha512(b"xxx").hexdigest()) is None

"""Attaching to a running container through conmon's attach socket, as `docker attach` / `run -it` do.

conmon's protocol (src/conn_sock.c, src/ctr_stdio.c): `<bundle>/attach` is a SOCK_SEQPACKET socket; every
packet conmon sends is one read of the container's output prefixed by one byte naming the stream (2 stdout,
3 stderr; a terminal has only stdout). Bytes we send go to the container's stdin unframed (conmon reads at most
32 KiB per packet). When we shut down our sending side conmon closes the container's stdin, unless it runs with
`--leave-stdin-open`. conmon closes every attached socket after the container has exited and its output is
drained, so end of file means "exited". Terminal size goes to the `<bundle>/ctl` fifo as `1 <rows> <cols>\\n`
(src/ctrl.c: message type 1 is a resize).

The loop is synchronous (poll); signals arrive through `signal.set_wakeup_fd`, so handlers only record them and
the loop acts on them, including SIGWINCH (resize) and, with `sig_proxy`, forwarding through `on_signal`.
Signal handling needs the main thread; elsewhere attach works without resize-on-SIGWINCH and proxying.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import termios
import threading
import tty as tty_mod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from composer.errors import ComposerError
from composer.runtime.oci.conmon import ConmonConfig
from composer.runtime.oci.paths import ContainerPaths

STREAM_STDOUT = 2
STREAM_STDERR = 3
DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
RESIZE_EVENT = 1
_PACKET = 32768  # conmon's CONN_SOCK_BUF_SIZE: larger packets would be cut
_RECV = 8192 + 1  # conmon's STDIO_BUF_SIZE plus the stream byte
_READ = 4096
_MAX_PENDING = 1 << 20  # stop reading stdin while this much waits for the container

# What Docker's client forwards with --sig-proxy (all catchable signals but these job-control/tty ones).
PROXY_SIGNALS: tuple[signal.Signals, ...] = tuple(
    s
    for s in (
        signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2,
        signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGTRAP,
        signal.SIGSYS, signal.SIGIO, signal.SIGPWR,
    )
)  # fmt: skip

Stream = int | IO[Any]


@dataclass(frozen=True, slots=True)
class AttachResult:
    """How the attachment ended: `detached` (detach keys typed, container still running) or the container's exit."""

    detached: bool


def _fileno(stream: Stream | None) -> int | None:
    if stream is None or isinstance(stream, int):
        return stream
    return stream.fileno()


def attach_socket_dir(cfg: ConmonConfig, paths: ContainerPaths) -> Path:
    """Where the `attach` socket is: the bundle (conmon's `--full-attach`), else conmon's symlinked socket dir."""
    if (paths.bundle / "attach").exists():
        return paths.bundle
    return cfg.socket_dir / paths.id


def connect(cfg: ConmonConfig, paths: ContainerPaths) -> socket.socket:
    """Connect to the container's attach socket; its path may exceed sun_path's 108 bytes, so go through
    `/proc/self/fd/N` of an O_PATH descriptor of its directory."""
    directory = attach_socket_dir(cfg, paths)
    try:
        dir_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise ComposerError(f"cannot attach to container {paths.id}: it is not running")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{dir_fd}/attach")
    except OSError as err:
        sock.close()
        if err.errno in (errno.ENOENT, errno.ECONNREFUSED):
            raise ComposerError(f"cannot attach to container {paths.id}: it is not running")
        raise ComposerError(f"cannot attach to container {paths.id}: {err.strerror}")
    finally:
        os.close(dir_fd)
    return sock


def resize(paths: ContainerPaths, rows: int, cols: int) -> bool:
    """Ask conmon to set the container's terminal size; False if conmon is not listening (not running)."""
    try:
        fd = os.open(paths.bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.write(fd, f"{RESIZE_EVENT} {rows} {cols}\n".encode())
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _terminal_size(fds: list[int | None]) -> tuple[int, int] | None:
    for fd in fds:
        if fd is not None and os.isatty(fd):
            with contextlib.suppress(OSError):
                size = os.get_terminal_size(fd)
                return size.lines, size.columns
    return None


class DetachFilter:
    """Docker's escape proxy: holds back a typed prefix of the detach keys; the whole sequence detaches, any
    other byte releases what was held (a lone ctrl-p followed by something else is passed through)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to forward, and whether the detach sequence completed (bytes after it are dropped)."""
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.held]:
                self.held += 1
                if self.held == len(self.keys):
                    self.held = 0
                    return bytes(out), True
                continue
            out += self.keys[: self.held]
            self.held = 0
            if byte == self.keys[0]:
                self.held = 1
            else:
                out.append(byte)
        return bytes(out), False


@contextlib.contextmanager
def raw_terminal(fd: int | None) -> Iterator[None]:
    """Put a terminal in raw mode for the duration, and always restore it."""
    if fd is None or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty_mod.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _signal_inbox(signums: list[int]) -> Iterator[tuple[int | None, list[int]]]:
    """Record `signums` into a list and wake a poll through a pipe; (None, []) off the main thread."""
    if not signums or threading.current_thread() is not threading.main_thread():
        yield None, []
        return
    got: list[int] = []
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous: dict[int, Any] = {}
    old_wakeup = -1

    def record(signum: int, _frame: object) -> None:
        got.append(signum)

    try:
        old_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for s in signums:
            previous[s] = signal.signal(s, record)
        yield r, got
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(old_wakeup)
        os.close(r)
        os.close(w)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]


def attach(
    cfg: ConmonConfig,
    paths: ContainerPaths,
    *,
    stdin: Stream | None = None,
    stdout: Stream | None = None,
    stderr: Stream | None = None,
    tty: bool = False,
    detach_keys: bytes = DEFAULT_DETACH_KEYS,
    sig_proxy: bool | None = None,
    on_signal: Callable[[int], None] | None = None,
    on_attached: Callable[[], None] | None = None,
) -> AttachResult:
    """Copy the container's output to `stdout`/`stderr` and `stdin` to the container until it exits or the
    detach keys are typed.

    `tty`: the container has a terminal; then a terminal `stdin` is put in raw mode (restored on return),
    the container's terminal gets our size now and on SIGWINCH, and `detach_keys` are honoured (Docker only
    looks for them on a terminal; b"" disables). Without a terminal, stderr packets go to `stderr`.
    `sig_proxy` (default: not `tty`, as Docker) hands the signals in PROXY_SIGNALS to `on_signal` (the
    caller's `runc kill`) instead of letting them act on this process. `on_attached` runs once connected
    (before any output is read), e.g. to start a created container without losing its first output.
    End of `stdin` shuts our sending side, which closes the container's stdin unless conmon leaves it open.
    Raises ComposerError if the container is not running.
    """
    in_fd, out_fd, err_fd = _fileno(stdin), _fileno(stdout), _fileno(stderr)
    if sig_proxy is None:
        sig_proxy = not tty
    proxied = [int(s) for s in PROXY_SIGNALS] if sig_proxy and on_signal is not None else []
    wanted = proxied + ([int(signal.SIGWINCH)] if tty else [])
    keys = DetachFilter(detach_keys if tty else b"")
    sock = connect(cfg, paths)
    with contextlib.closing(sock), _signal_inbox(wanted) as (wake_fd, got):
        sock.setblocking(False)
        with raw_terminal(in_fd if tty else None):
            if tty and (size := _terminal_size([in_fd, out_fd])) is not None:
                resize(paths, *size)
            if on_attached is not None:
                on_attached()
            return _pump(sock, paths, in_fd, out_fd, err_fd, tty, keys, wake_fd, got, on_signal)


def _pump(
    sock: socket.socket,
    paths: ContainerPaths,
    in_fd: int | None,
    out_fd: int | None,
    err_fd: int | None,
    tty: bool,
    keys: DetachFilter,
    wake_fd: int | None,
    got: list[int],
    on_signal: Callable[[int], None] | None,
) -> AttachResult:
    """The poll loop of `attach`."""
    pending = bytearray()  # stdin bytes conmon has not taken yet
    stdin_open = in_fd is not None
    shut = False
    poller = select.poll()
    sock_fd = sock.fileno()
    while True:
        sock_events = select.POLLIN | (select.POLLOUT if pending else 0)
        poller.register(sock_fd, sock_events)
        if stdin_open and in_fd is not None:
            if len(pending) < _MAX_PENDING:
                poller.register(in_fd, select.POLLIN)
            else:
                with contextlib.suppress(KeyError):
                    poller.unregister(in_fd)
        if wake_fd is not None:
            poller.register(wake_fd, select.POLLIN)
        events = poller.poll()
        for fd, ev in events:
            if fd == wake_fd:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_fd, 512)
            elif fd == sock_fd:
                if ev & (select.POLLIN | select.POLLHUP | select.POLLERR) and not _receive(sock, out_fd, err_fd, tty):
                    return AttachResult(detached=False)
                if ev & select.POLLOUT and pending:
                    pending = _send(sock, pending)
            elif fd == in_fd and stdin_open:
                data = _read_stdin(in_fd)
                if data is None:
                    continue
                if not data:
                    stdin_open = False
                    poller.unregister(in_fd)
                    continue
                forward, detached = keys.feed(data)
                pending += forward
                if detached:
                    _flush(sock, pending)
                    return AttachResult(detached=True)
                pending = _send(sock, pending)
        while got:
            signum = got.pop(0)
            if signum == signal.SIGWINCH:
                if (size := _terminal_size([in_fd, out_fd])) is not None:
                    resize(paths, *size)
            elif on_signal is not None:
                with contextlib.suppress(ComposerError):
                    on_signal(signum)
        if not stdin_open and not pending and not shut and in_fd is not None:
            shut = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)


def _read_stdin(fd: int) -> bytes | None:
    """Some input; b"" at its end; None if there was nothing after all."""
    try:
        return os.read(fd, _READ)
    except BlockingIOError:
        return None
    except OSError as err:
        if err.errno == errno.EIO:  # a terminal whose other side went away
            return b""
        raise


def _receive(sock: socket.socket, out_fd: int | None, err_fd: int | None, tty: bool) -> bool:
    """Handle one packet from conmon; False at end of file (the container has exited)."""
    try:
        packet = sock.recv(_RECV)
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False
    if not packet:
        return False
    stream, data = packet[0], packet[1:]
    target = err_fd if stream == STREAM_STDERR and not tty else out_fd
    if target is not None and data and stream in (STREAM_STDOUT, STREAM_STDERR):
        with contextlib.suppress(BrokenPipeError):
            _write_all(target, data)
    return True


def _send(sock: socket.socket, pending: bytearray) -> bytearray:
    """Send as many packets as the socket takes now; return what is left."""
    while pending:
        chunk = bytes(pending[:_PACKET])
        try:
            sock.send(chunk)
        except BlockingIOError:
            break
        except (BrokenPipeError, ConnectionResetError):
            return bytearray()
        del pending[: len(chunk)]
    return pending


def _flush(sock: socket.socket, pending: bytearray, timeout: float = 1.0) -> None:
    """Best effort: hand conmon what was typed before the detach keys."""
    while pending:
        _, writable, _ = select.select([], [sock], [], timeout)
        if not writable:
            return
        pending = _send(sock, pending)

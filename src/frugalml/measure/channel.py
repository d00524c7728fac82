"""The channel from a command run by ``frugal run`` to its outer run.

``frugal run`` listens on a Unix socket in a private folder (mode 0700: only this user can
connect; no network) and tells its command where through the environment variable
:data:`ENV_VAR` (``FRUGAL_OUTER_RUN=<run id>:<socket path>``). Anything in the command's
process tree (``frugalml.epoch_end()``, a nested ``track()``'s ``log_metric``) sends messages
there; the outer run takes the reading, forecasts, applies its budget, records the metric.

Guarantees for the sender (the user's job): :meth:`ChannelClient.send` never blocks and never
raises. A message that cannot be delivered at once (no outer run listening, its buffer full,
too large) is dropped and counted (``ChannelClient.dropped``); the count travels with the next
message that gets through, so the outer run records how many were lost, and a sender whose
outer run is gone logs it once. Delivered messages arrive whole and in order per process.

Why ``SOCK_SEQPACKET`` rather than ``SOCK_DGRAM``: both keep message boundaries and are
reliable on Unix sockets, but a datagram socket's queue holds ``net.unix.max_dgram_qlen``
messages (10 on most kernels: a burst of 11 ``log_metric`` calls would drop one), while a
connected sequenced-packet socket buffers by bytes: with a 4 MiB send buffer, ~10,000 small
messages before one is dropped, at ~4 µs per send (measured on this project's VM). The
connection also tells the outer run who sent each message (``SO_PEERCRED``: pid, uid).

Example:
    >>> server = ChannelServer("abc123").start()
    >>> got = []
    >>> server.on("log_metric", got.append)
    >>> sender = ChannelClient(OuterRun.parse(server.environ()[ENV_VAR]))
    >>> sender.send("log_metric", {"name": "loss", "value": 0.5, "step": 1})
    True
    >>> server.close().received
    1
    >>> [(m.type, m.data["name"]) for m in got]
    [('log_metric', 'loss')]
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import selectors
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENV_VAR",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL",
    "ChannelClient",
    "ChannelServer",
    "ChannelStats",
    "Message",
    "OuterRun",
    "client",
    "outer_run",
    "send",
]

log = logging.getLogger(__name__)

#: The environment variable ``frugal run`` sets for its command: ``<run id>:<socket path>``.
ENV_VAR = "FRUGAL_OUTER_RUN"
#: Version of the message format (``v`` in every message); the server refuses other versions.
PROTOCOL = 1
#: A larger message is dropped by the sender (and counted).
MAX_MESSAGE_BYTES = 1 << 20
_SEND_BUFFER_BYTES = 4 << 20
_RECONNECT_EVERY_S = 1.0
_MAX_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on BSDs
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class OuterRun:
    """Where the outer run listens: its run id and its socket's path."""

    run_id: str
    path: str

    @classmethod
    def parse(cls, value: str | None) -> OuterRun | None:
        """``"<run id>:<path>"`` (the value of :data:`ENV_VAR`), or None when malformed."""
        if not value:
            return None
        run_id, sep, path = value.partition(":")
        if not sep or not run_id or not path.startswith("/"):
            log.debug("ignoring a malformed %s=%r", ENV_VAR, value)
            return None
        return cls(run_id, path)

    def to_env(self) -> str:
        return f"{self.run_id}:{self.path}"


def outer_run(environ: Mapping[str, str] | None = None) -> OuterRun | None:
    """The outer run this process reports to (``frugal run`` set :data:`ENV_VAR`), or None."""
    env = os.environ if environ is None else environ
    return OuterRun.parse(env.get(ENV_VAR))


@dataclass(frozen=True)
class Message:
    """One message received by the outer run.

    Attributes:
        type: what it is (``epoch_end``, ``log_metric``; other modules add their own).
        data: its content (JSON values).
        pid, uid: the sending process, as the kernel reports it (``SO_PEERCRED``).
        seq: the sender's message number (from 1, per sending process).
        sent_at: the sender's clock when it sent the message (Unix seconds).
    """

    type: str
    data: dict[str, Any]
    pid: int
    uid: int
    seq: int
    sent_at: float


class ChannelClient:
    """The sending end, in the command's process tree. Thread-safe; fork-safe through
    :func:`client` (one client per process).

    Args:
        outer: where the outer run listens.
    """

    def __init__(self, outer: OuterRun) -> None:
        self.outer = outer
        self.sent = 0
        self.dropped = 0
        self._sock: socket.socket | None = None
        self._next_connect = 0.0
        self._warned = False
        self._lock = threading.Lock()

    def send(self, kind: str, data: Mapping[str, Any] | None = None) -> bool:
        """Send one message now; True when the outer run's socket took it.

        Never blocks, never raises: a message that cannot be delivered at once is dropped
        and counted in :attr:`dropped`.
        """
        try:
            with self._lock:
                seq = self.sent + self.dropped + 1
                payload = json.dumps(
                    {
                        "v": PROTOCOL,
                        "run": self.outer.run_id,
                        "type": kind,
                        "seq": seq,
                        "t": time.time(),
                        "dropped": self.dropped,
                        "data": dict(data or {}),
                    },
                    separators=(",", ":"),
                    allow_nan=False,
                ).encode()
                if len(payload) > MAX_MESSAGE_BYTES:
                    return self._drop(f"a {kind} message of {len(payload)} bytes is too large")
                sock = self._connected()
                if sock is None:
                    return self._drop("the outer run is not listening")
                try:
                    sock.send(payload, socket.MSG_NOSIGNAL)
                except BlockingIOError:
                    return self._drop("the outer run's buffer is full")
                except OSError as e:  # the outer run went away (EPIPE, ECONNRESET...)
                    self._disconnect()
                    return self._drop(f"the outer run is gone ({e.strerror or e})")
                self.sent += 1
                return True
        except Exception as e:  # a value JSON cannot carry, anything else: never into the job
            with contextlib.suppress(Exception), self._lock:
                self._drop(f"{e.__class__.__name__}: {e}")
            return False

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    def _connected(self) -> socket.socket | None:
        if self._sock is not None:
            return self._sock
        now = time.monotonic()
        if now < self._next_connect:
            return None
        self._next_connect = now + _RECONNECT_EVERY_S
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER_BYTES)
            sock.setblocking(False)
            sock.connect(self.outer.path)
        except OSError:
            sock.close()
            return None
        self._sock = sock
        return sock

    def _disconnect(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _drop(self, why: str) -> bool:
        self.dropped += 1
        if not self._warned:
            self._warned = True
            log.warning(
                "frugalml: a message to the outer run %s was dropped (%s); further drops are "
                "counted and reported to it when it is reachable",
                self.outer.run_id,
                why,
            )
        return False


_CLIENTS: dict[tuple[int, str], ChannelClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client(environ: Mapping[str, str] | None = None) -> ChannelClient | None:
    """This process's client for the outer run named by the environment, or None.

    One client per process and outer run (a forked process gets its own connection, so the
    outer run sees every process as a sender of its own).
    """
    outer = outer_run(environ)
    if outer is None:
        return None
    key = (os.getpid(), outer.to_env())
    with _CLIENTS_LOCK:
        found = _CLIENTS.get(key)
        if found is None:
            for other in [k for k in _CLIENTS if k[0] != key[0]]:
                del _CLIENTS[other]  # inherited through fork: not ours to use
            found = _CLIENTS[key] = ChannelClient(outer)
    return found


def send(kind: str, data: Mapping[str, Any] | None = None) -> bool:
    """Send a message to the outer run, if this process has one; never blocks or raises.

    Returns:
        True when delivered; False when there is no outer run or the message was dropped.

    Example:
        >>> send("log_metric", {"name": "loss", "value": 0.1})  # no frugal run around
        False
    """
    c = client()
    return False if c is None else c.send(kind, data)


Handler = Callable[[Message], None]


@dataclass
class _Peer:
    sock: socket.socket
    pid: int
    uid: int
    dropped: int = 0


@dataclass
class ChannelStats:
    """What the server saw: messages handled, dropped by senders (as they reported), refused
    (wrong run, protocol or user; malformed), of no registered type, and handler failures."""

    received: int = 0
    lost: int = 0
    refused: int = 0
    unknown: int = 0
    failed: int = 0
    unhandled: int = 0
    senders: int = 0
    errors: list[str] = field(default_factory=list)


class ChannelServer:
    """The listening end, in ``frugal run``: one thread dispatches each message to the
    handler registered for its type (:meth:`on`), in the order each sender sent them.

    Args:
        run_id: the outer run's id; messages for another run are refused.
        handlers: type -> handler; more can be added with :meth:`on` before or after start.

    A handler that raises is counted in ``stats.failed`` (its first error kept in
    ``stats.errors``) and the server goes on.
    """

    def __init__(self, run_id: str, handlers: Mapping[str, Handler] | None = None) -> None:
        self.run_id = run_id
        self.stats = ChannelStats()
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._dir: str | None = None
        self._path: str | None = None
        self._listener: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._peers: dict[int, _Peer] = {}
        self._thread: threading.Thread | None = None
        self._closing = False
        self._abandon = False
        self._buffer = bytearray(MAX_MESSAGE_BYTES + 1)

    def on(self, kind: str, handler: Handler) -> None:
        """Call ``handler(message)`` for every message of this kind (its ``type``)."""
        self._handlers[kind] = handler

    @property
    def outer(self) -> OuterRun:
        if self._path is None:
            raise RuntimeError("ChannelServer.start() first")
        return OuterRun(self.run_id, self._path)

    def environ(self) -> dict[str, str]:
        """The variables to add to the command's environment."""
        return {ENV_VAR: self.outer.to_env()}

    def start(self) -> ChannelServer:
        """Bind the socket in a new private folder and start the dispatching thread.

        Raises:
            OSError: the socket could not be created (the caller runs without a channel).
        """
        self._dir = _private_dir()
        self._path = os.path.join(self._dir, "outer.sock")
        try:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
            listener.bind(self._path)
            listener.listen(64)
            listener.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
        except OSError:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._listener = listener
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(
            target=self._loop, name=f"frugalml-channel-{self.run_id}", daemon=True
        )
        self._thread.start()
        return self

    def close(self, timeout_s: float = 2.0) -> ChannelStats:
        """Handle what the senders have already sent, then stop listening and remove the
        socket. Call after the command has exited, before stopping the run."""
        if self._thread is None:
            return self.stats
        self._closing = True
        assert self._wake_w is not None
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            # Still handling a burst the senders sent faster than the handlers run: what is
            # left is counted (stats.unhandled), not handled, so that the caller can say so.
            self._abandon = True
            self._thread.join(timeout_s)
        self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        return self.stats

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self._selector is not None
        try:
            while not self._closing:
                for key, _ in self._selector.select():
                    self._ready(key.fileobj)  # type: ignore[arg-type]
            self._drain()
        except Exception as e:  # never dies silently: the run says the channel stopped
            self.stats.errors.append(f"the channel stopped: {type(e).__name__}: {e}")
            log.debug("channel loop failed", exc_info=True)
        finally:
            self._shutdown()

    def _ready(self, sock: socket.socket) -> None:
        if sock is self._listener:
            self._accept()
        elif sock is self._wake_r:
            with contextlib.suppress(OSError):
                sock.recv(64)
        else:
            self._read(sock)

    def _drain(self) -> None:
        """After close(): connections not yet accepted and every message already queued."""
        self._accept()
        for peer in list(self._peers.values()):
            self._read(peer.sock)

    def _accept(self) -> None:
        assert self._listener is not None and self._selector is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    self.stats.errors.append(f"cannot accept a sender: {e.strerror}")
                return
            pid, uid, _ = _PEERCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            )
            if uid != os.getuid():  # the folder is 0700; this only guards a shared mount
                self.stats.refused += 1
                sock.close()
                continue
            sock.setblocking(False)
            self._peers[sock.fileno()] = _Peer(sock, pid, uid)
            self._selector.register(sock, selectors.EVENT_READ, None)
            self.stats.senders += 1

    def _read(self, sock: socket.socket) -> None:
        peer = self._peers.get(sock.fileno())
        if peer is None:
            return
        view = memoryview(self._buffer)
        while True:
            try:
                n = sock.recv_into(view)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                n = 0
            if n == 0:  # the sender closed (or exited)
                self._forget(peer)
                return
            self._dispatch(peer, bytes(view[:n]))

    def _dispatch(self, peer: _Peer, raw: bytes) -> None:
        try:
            msg = json.loads(raw)
            ok = (
                isinstance(msg, dict)
                and msg.get("v") == PROTOCOL
                and msg.get("run") == self.run_id
                and isinstance(msg.get("type"), str)
                and isinstance(msg.get("data"), dict)
            )
        except ValueError:
            ok = False
        if not ok:
            self.stats.refused += 1
            return
        dropped = msg.get("dropped")
        if isinstance(dropped, int) and dropped > peer.dropped:
            self.stats.lost += dropped - peer.dropped
            peer.dropped = dropped
        handler = self._handlers.get(msg["type"])
        if handler is None:
            self.stats.unknown += 1
            return
        message = Message(
            type=msg["type"],
            data=msg["data"],
            pid=peer.pid,
            uid=peer.uid,
            seq=int(msg.get("seq") or 0),
            sent_at=float(msg.get("t") or 0.0),
        )
        self.stats.received += 1
        if self._abandon:
            self.stats.unhandled += 1
            return
        try:
            handler(message)
        except Exception as e:
            self.stats.failed += 1
            if len(self.stats.errors) < 5:
                self.stats.errors.append(f"{message.type} from pid {peer.pid}: {e}")
            log.debug("channel handler failed", exc_info=True)

    def _forget(self, peer: _Peer) -> None:
        assert self._selector is not None
        self._peers.pop(peer.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(peer.sock)
        peer.sock.close()

    def _shutdown(self) -> None:
        for peer in list(self._peers.values()):
            self._forget(peer)
        if self._selector is not None:
            self._selector.close()
        for s in (self._listener, self._wake_r, self._wake_w):
            if s is not None:
                s.close()


def _private_dir() -> str:
    """A new folder only this user can enter, with a path short enough for a socket."""
    for base in (None, "/tmp"):
        path = tempfile.mkdtemp(prefix="frugal-run-", dir=base)
        if len(path) + len("/outer.sock") <= _MAX_PATH:
            return path
        os.rmdir(path)
    raise OSError(errno.ENAMETOOLONG, "no temporary folder with a short enough path for a socket")

"""The channel from a command to its outer ``frugal run`` (frugalml.measure.channel)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from frugalml.measure import channel
from frugalml.measure.channel import (
    ENV_VAR,
    ChannelClient,
    ChannelServer,
    Message,
    OuterRun,
    outer_run,
)

_OPEN: list[ChannelClient] = []


@pytest.fixture
def server():
    srv = ChannelServer("run1").start()
    yield srv
    srv.close()
    while _OPEN:
        _OPEN.pop().close()


def _client(srv: ChannelServer, run_id: str | None = None) -> ChannelClient:
    c = ChannelClient(OuterRun(run_id or srv.run_id, srv.outer.path))
    _OPEN.append(c)
    return c


def _wait(pred, timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_messages_arrive_in_order_with_the_senders_pid(server: ChannelServer) -> None:
    got: list[Message] = []
    server.on("log_metric", got.append)
    c = _client(server)
    for i in range(50):
        assert c.send("log_metric", {"name": "loss", "value": 1.0 / (i + 1), "step": i})
    _wait(lambda: len(got) == 50)
    assert [m.data["step"] for m in got] == list(range(50))
    assert [m.seq for m in got] == list(range(1, 51))
    assert {m.pid for m in got} == {os.getpid()}
    assert {m.uid for m in got} == {os.getuid()}
    assert server.stats.received == 50 and server.stats.lost == 0


def test_the_socket_lives_in_a_private_folder_and_is_removed(server: ChannelServer) -> None:
    path = server.outer.path
    folder = os.path.dirname(path)
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.path.exists(path)
    server.close()
    assert not os.path.exists(folder)


def test_environment_variable_round_trip() -> None:
    outer = OuterRun("abc", "/tmp/x/outer.sock")
    assert outer_run({ENV_VAR: outer.to_env()}) == outer
    for bad in ("", "abc", "abc:relative/path", ":/tmp/x"):
        assert outer_run({ENV_VAR: bad}) is None
    assert outer_run({}) is None


def test_without_an_outer_run_send_is_a_cheap_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert channel.send("epoch_end", {"epoch": 1}) is False
    assert channel.client() is None


def test_an_outer_run_that_is_gone_drops_and_counts_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = ChannelClient(OuterRun("run1", "/nonexistent/frugal/outer.sock"))
    with caplog.at_level(logging.WARNING, logger="frugalml.measure.channel"):
        t0 = time.perf_counter()
        results = [c.send("log_metric", {"name": "x", "value": i}) for i in range(100)]
        elapsed = time.perf_counter() - t0
    assert not any(results) and c.dropped == 100 and c.sent == 0
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1
    assert elapsed < 5.0  # never blocks (generous: a shared machine)


def test_a_server_closed_mid_run_makes_later_sends_drop(server: ChannelServer) -> None:
    c = _client(server)
    assert c.send("log_metric", {"name": "x", "value": 1})
    server.close()
    assert not any(c.send("log_metric", {"name": "x", "value": 2}) for _ in range(3))
    assert c.dropped == 3


def test_a_full_buffer_drops_and_the_count_reaches_the_outer_run(server: ChannelServer) -> None:
    gate = threading.Event()
    got: list[Message] = []

    def slow(m: Message) -> None:
        gate.wait(10)
        got.append(m)

    server.on("log_metric", slow)
    c = _client(server)
    sent = sum(c.send("log_metric", {"name": "x", "value": 1.0}) for _ in range(30_000))
    assert c.dropped == 30_000 - sent > 0  # the buffer (4 MiB) filled: dropped, not blocked
    gate.set()
    _wait(lambda: len(got) == sent)
    assert c.send("log_metric", {"name": "x", "value": 2.0})  # carries the count
    _wait(lambda: server.stats.lost == c.dropped)


def test_refused_unknown_and_failing_messages_are_counted(server: ChannelServer) -> None:
    def boom(m: Message) -> None:
        raise RuntimeError("handler bug")

    server.on("epoch_end", boom)
    other = _client(server, "another-run")
    assert other.send("epoch_end", {})  # delivered, then refused: not this run
    c = _client(server)
    assert c.send("no_such_type", {})
    assert c.send("epoch_end", {"epoch": 1})
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    raw.connect(server.outer.path)
    raw.send(b"not json")
    raw.send(b'{"v": 99, "run": "run1", "type": "epoch_end", "data": {}}')
    _wait(lambda: server.stats.refused == 3 and server.stats.failed == 1)
    assert server.stats.unknown == 1
    assert "handler bug" in server.stats.errors[0]
    raw.close()


def test_unsendable_values_are_dropped_never_raised(server: ChannelServer) -> None:
    c = _client(server)
    assert c.send("log_metric", {"name": "x", "value": float("nan")}) is False
    assert c.send("log_metric", {"name": "x", "value": object()}) is False
    assert c.send("log_metric", {"blob": "x" * (channel.MAX_MESSAGE_BYTES + 1)}) is False
    assert c.dropped == 3


def test_a_real_child_process_reaches_the_outer_run(server: ChannelServer) -> None:
    got: list[Message] = []
    server.on("log_metric", got.append)
    code = (
        "from frugalml.measure import channel\n"
        "assert channel.send('log_metric', {'name': 'acc', 'value': 0.9, 'step': 3})\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **server.environ()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    server.close()  # handles what was sent before returning
    assert len(got) == 1 and got[0].pid != os.getpid()
    assert got[0].data == {"name": "acc", "value": 0.9, "step": 3}


def test_a_forked_process_gets_its_own_connection(
    server: ChannelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    got: list[Message] = []
    server.on("log_metric", got.append)
    monkeypatch.setenv(ENV_VAR, server.outer.to_env())
    assert channel.send("log_metric", {"name": "parent", "value": 1.0})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = channel.send("log_metric", {"name": "child", "value": 2.0})
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _wait(lambda: len(got) == 2)
    assert {m.data["name"]: m.pid for m in got} == {"parent": os.getpid(), "child": pid}
    found = channel.client()
    assert found is not None
    found.close()


def test_a_burst_still_unhandled_at_close_is_counted_not_lost_silently() -> None:
    srv = ChannelServer("r1", handlers={"slow": lambda m: time.sleep(0.01)})
    srv.start()
    client = _client(srv, "r1")
    for i in range(100):  # 1 s of handling, sent in a few ms
        assert client.send("slow", {"i": i})
    client.close()
    stats = srv.close(timeout_s=0.1)
    assert stats.received == 100 and 0 < stats.unhandled < 100

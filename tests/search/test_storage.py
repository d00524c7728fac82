from __future__ import annotations

import importlib.util
import socket
import time

import pytest

from frugalml.errors import InputError
from frugalml.search import storage as st


def test_resolve():
    assert st.resolve_storage(None, "out") == st.StorageSpec(
        "journal", "out/search.journal", "journal:out/search.journal"
    )
    assert st.resolve_storage("x/j.log", None).target == "x/j.log"
    assert st.resolve_storage("journal:x/j.log", None).target == "x/j.log"
    spec = st.resolve_storage("sqlite:///tmp/o.db", None)
    assert spec.kind == "rdb" and spec.target == "sqlite:///tmp/o.db"
    spec = st.resolve_storage("postgresql+psycopg2://ann:pw@h/db", None)
    assert spec.target == "postgresql+psycopg2://ann:pw@h/db" and spec.shown.count("pw") == 0
    assert st.resolve_storage("redis://h:6379", None).kind == "redis"
    with pytest.raises(InputError, match="Unknown storage kind 'ftp'"):
        st.resolve_storage("ftp://ann:pw@h/x", None)
    with pytest.raises(InputError, match="--storage URL or --out"):
        st.resolve_storage(None, None)


def test_bare_postgresql_gets_an_installed_driver():
    spec = st.resolve_storage("postgresql://ann:secret@h/db", None)
    driver = spec.target.split("://")[0]
    assert driver in ("postgresql+psycopg", "postgresql+psycopg2")
    module = driver.split("+")[1]
    assert importlib.util.find_spec(module) is not None
    assert spec.shown == "postgresql://ann:***@h/db"


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://u:p@h/d", "postgresql://u:***@h/d"),
        ("mysql+pymysql://u:p:q@h/d", "mysql+pymysql://u:***@h/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("sqlite:///a:b@c.db", "sqlite:///a:b@c.db"),
    ],
)
def test_redact(url, shown):
    assert st.redact(url) == shown


def test_missing_server_is_one_line_without_the_password(tmp_path):
    url = f"postgresql://ann:s3cret@/db?host={tmp_path / 'no-server'}"
    with pytest.raises(InputError) as e:
        st.open_storage(st.resolve_storage(url, None))
    msg = str(e.value)
    assert "Cannot reach the storage" in msg and "s3cret" not in msg and "\n" not in msg


def test_silent_server_gives_up_after_the_connect_timeout(tmp_path, monkeypatch):
    # a socket that accepts connections (the kernel's backlog) but never answers
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / ".s.PGSQL.5432"))
    server.listen(8)
    monkeypatch.setattr(st, "CONNECT_TIMEOUT_S", 2)  # libpq's minimum
    t0 = time.monotonic()
    try:
        with pytest.raises(InputError, match="gave up after at most 2 s"):
            st.open_storage(st.resolve_storage(f"postgresql://u@/db?host={tmp_path}", None))
    finally:
        server.close()
    assert time.monotonic() - t0 < 8

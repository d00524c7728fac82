from __future__ import annotations

import pytest

from frugalml.cli.main import main


@pytest.mark.parametrize(
    "args, needle",
    [
        (["bench", "--task", "nope"], "digits-mlp"),
        (["bench", "--task", "iris-mlp", "--techniques", "int8-dynamic,bogus"], "bogus"),
        (["bench", "--suite", "huge"], "huge"),
        (["bench", "--repeats", "0"], "--repeats"),
        (["bench", "--out", "/proc/nope/x"], "--out"),
        (["bench", "--region", "atlantis"], "atlantis"),
    ],
)
def test_bad_input_exit_2(args, needle, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(
            [*args, "--db", str(tmp_path / "r.db")]
            if "--out" in args
            else [*args, "--out", str(tmp_path / "o")]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_list(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--list"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "digits-cnn" in out and "magnitude-prune" in out
    assert list(tmp_path.iterdir()) == []  # no ./frugal-out/bench made to list names


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--task", "nope"], "nope"),
        (["--task", "iris-mlp", "--techniques", "bogus"], "bogus"),
        (["--techniques", ",,"], "names nothing"),
        (["--task", ","], "names nothing"),
        (["--db", "postgres ql://x"], "registry URL"),
        (["--region", "atlantis"], "atlantis"),
    ],
)
def test_bad_input_creates_nothing(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "new" / "bench"
    with pytest.raises(SystemExit) as exc:
        main(["bench", *args, "--out", str(out)] if "--db" in args else ["bench", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither ./frugal-out/bench nor --out

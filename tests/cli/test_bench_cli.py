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


def test_list(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--list"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "digits-cnn" in out and "magnitude-prune" in out

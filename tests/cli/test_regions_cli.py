"""``frugal regions``: table, JSON, filters, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from frugalml.cli.main import cli, main


def invoke(*args):
    return CliRunner().invoke(cli, ["regions", *args])


def test_lists_everything_without_query():
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) > 300
    assert rows[0]["code"] == "world"
    assert set(rows[0]) == {
        "code",
        "name",
        "kind",
        "intensity_g_per_kwh",
        "grid",
        "pue",
        "source",
        "year",
    }


def test_table_shows_matching_rows():
    result = invoke("eu-west-1")
    assert result.exit_code == 0, result.output
    assert "aws:eu-west-1" in result.output
    assert "IE" in result.output and "1.15" in result.output
    assert "azure:westeurope" not in result.output


def test_kind_filter_and_query_are_case_insensitive():
    result = invoke("AU", "--kind", "SUBREGION", "--json")
    assert result.exit_code == 0, result.output
    codes = [r["code"] for r in json.loads(result.output)]
    assert "AU-NSW" in codes and "AU-VIC" in codes
    assert all(r["kind"] == "subregion" for r in json.loads(result.output))


def test_no_match_is_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["regions", "atlantis"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "Error: No region matches 'atlantis'. Run 'frugal regions' without a query to list all "
        f"{len(json.loads(invoke('--json').output))} regions."
    )
    assert "Traceback" not in err


def test_bad_kind_is_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["regions", "--kind", "planet"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err

"""``frugal runs`` / ``show`` / ``regions``: piped output, formats, the name filter, safe text,
markup, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from frugalml.cli.main import cli, main
from frugalml.measure.tracker import Tracker
from frugalml.testing import ConstantPowerSensor

FRUGAL = [sys.executable, "-m", "frugalml"]
LONG = "a-run-name-that-is-exactly-forty-chars-x"
EVIL = "ev\x1b]0;owned\x07il\x1b[2J\u202etxt.exe\x9b"
MARKUP = "[bold]not bold[/bold]"


def track(db: str, name: str, region: str | None = "FR", **kw) -> str:
    with Tracker(
        name,
        sensors=[ConstantPowerSensor(20.0, "cpu")],
        db=db,
        region=region,
        interval_s=0.05,
        handle_signals=False,
        **kw,
    ) as run:
        run.log_metric("acc\x1b[31m", 0.5)
    return run.id


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("runs") / "r.db")
    for name in (LONG, "train-small", "train-large", EVIL, MARKUP):
        track(path, name, region="aws:eu-west-1" if name == MARKUP else "FR")
    return path


def run_main(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def test_piped_output_is_never_cut(db):
    """`frugal runs | grep NAME` finds a run whose name is 40 characters long."""
    assert len(LONG) == 40
    res = subprocess.run([*FRUGAL, "runs", "--db", db], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert [line for line in res.stdout.splitlines() if LONG in line], res.stdout
    assert "…" not in res.stdout
    run_id = next(line.split()[1] for line in res.stdout.splitlines() if LONG in line)
    # Click's runner gives the command a non-terminal stdout too: the same 80-column cut
    out = CliRunner().invoke(cli, ["show", run_id, "--db", db]).output
    assert LONG in out and run_id in out and "…" not in out


def test_formats_tsv_json_and_the_json_alias(db):
    runner = CliRunner()
    tsv = runner.invoke(cli, ["runs", "--db", db, "--format", "tsv"]).output.splitlines()
    assert tsv[0].split("\t")[:2] == ["id", "name"]
    assert len(tsv) == 6 and all(len(line.split("\t")) == len(tsv[0].split("\t")) for line in tsv)
    assert LONG in {line.split("\t")[1] for line in tsv}
    as_json = runner.invoke(cli, ["runs", "--db", db, "--json"]).output
    assert as_json == runner.invoke(cli, ["runs", "--db", db, "--format", "json"]).output
    names = {json.loads(line)["name"] for line in as_json.splitlines()}
    assert EVIL in names  # the stored value is unchanged
    run_id = json.loads(as_json.splitlines()[0])["id"]
    fields = dict(
        line.split("\t", 1)
        for line in runner.invoke(
            cli, ["show", run_id, "--db", db, "--format", "tsv"]
        ).output.splitlines()[1:]
    )
    assert fields["id"] == run_id and "energy_j.cpu" in fields and "co2e_g" in fields
    shown = json.loads(runner.invoke(cli, ["show", run_id, "--db", db, "--format", "json"]).output)
    assert shown["id"] == run_id
    regions = runner.invoke(cli, ["regions", "aws:eu-west", "--format", "tsv"]).output
    assert regions.splitlines()[0].startswith("code\tname\tkind\tg_per_kwh")
    assert "aws:eu-west-1\t" in regions
    res = runner.invoke(cli, ["runs", "--db", db, "--json", "--format", "tsv"])
    assert res.exit_code == 2 and "--json" in res.output


def test_name_filter_substring_glob_counts_and_no_match(db):
    runner = CliRunner()
    out = runner.invoke(cli, ["runs", "--db", db, "--name", "TRAIN"]).output
    assert "2 matching --name 'TRAIN', 5 in all" in out
    assert "train-small" in out and "train-large" in out and LONG not in out
    out = runner.invoke(cli, ["runs", "--db", db, "--name", "train-?mall", "--json"]).output
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["train-small"]
    out = runner.invoke(cli, ["runs", "--db", db, "--name", "*chars-x"]).output
    assert "1 matching" in out and LONG in out
    out = runner.invoke(cli, ["runs", "--db", db, "--name", "100%"]).output  # % is literal
    assert "No runs match --name '100%' (5 runs in the registry)" in out
    assert "No runs yet" not in out


def test_mistyped_subcommand_gets_did_you_mean(capsys):
    assert run_main(["shwo", "x"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'shwo'. Did you mean 'show'?" in err and "Traceback" not in err
    assert run_main(["rn"]) == 2
    assert "Did you mean 'run' or 'runs'?" in capsys.readouterr().err


def test_control_sequences_are_shown_escaped_never_raw(db):
    runner = CliRunner()
    listing = runner.invoke(cli, ["runs", "--db", db]).output
    tsv = runner.invoke(cli, ["runs", "--db", db, "--format", "tsv"]).output
    run_id = next(
        json.loads(line)["id"]
        for line in runner.invoke(cli, ["runs", "--db", db, "--json"]).output.splitlines()
        if json.loads(line)["name"] == EVIL
    )
    shown = runner.invoke(cli, ["show", run_id, "--db", db]).output
    shown_tsv = runner.invoke(cli, ["show", run_id, "--db", db, "--format", "tsv"]).output
    for out in (listing, tsv, shown, shown_tsv):
        assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
        assert "\x9b" not in out
    assert r"ev\x1b]0;owned\x07il\x1b[2J\u202etxt.exe\x9b" in listing
    assert r"ev\x1b]0;owned\x07il\x1b[2J\u202etxt.exe\x9b" in shown
    assert r"acc\x1b[31m" in shown_tsv


def test_markup_in_names_and_lower_case_region_codes_is_literal(db):
    runner = CliRunner()
    assert MARKUP in runner.invoke(cli, ["runs", "--db", db]).output
    run_id = json.loads(runner.invoke(cli, ["runs", "--db", db, "--json"]).output.splitlines()[0])[
        "id"
    ]
    out = runner.invoke(cli, ["show", run_id, "--db", db]).output
    assert MARKUP in out
    # the provenance of a lower-case region code is printed, not swallowed as a markup tag
    assert "region aws:eu-west-1 (AWS Europe (Ireland)), from --region" in out
    assert "PUE 1.15: provider-reported PUE for aws:eu-west-1" in out


def test_no_region_configured_says_world_average_and_how_to_set_one(tmp_path):
    db = str(tmp_path / "r.db")
    run_id = track(db, "no-region", region=None)
    out = CliRunner().invoke(cli, ["show", run_id, "--db", db]).output
    assert "region: world average (473.1 g/kWh), because no region is configured" in out
    assert "--region CODE" in out and "FRUGAL_REGION" in out and "frugal regions" in out


def test_frugal_run_summary_escapes_and_states_the_default_region(tmp_path, capsys):
    """What `frugal run` prints on stderr when the command ends."""
    from frugalml.cli.summary import print_summary

    with Tracker(EVIL, sensors=[ConstantPowerSensor(5.0)], db=False, handle_signals=False) as run:
        pass
    print_summary(run.to_dict(), stderr=True)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\u202e" not in err
    assert r"frugalml run ev\x1b]0;owned\x07il" in err
    assert "world average" in err and "--region CODE" in err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["runs", "--limit", "99999999999999999999"], "99999999999999999999"),
        (["runs", "--page", "9223372036854775807"], "9223372036854775807"),
        (["report", "--page", "9223372036854775807"], "9223372036854775807"),
        (["report", "--last", "99999999999999999999"], "99999999999999999999"),
        (["show", ""], "RUN_ID"),
        (["report", ""], "RUN_ID"),
    ],
)
def test_out_of_range_and_empty_values_are_one_line_exit_2(args, needle, tmp_path, capsys):
    assert run_main([*args, "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Error")]) == 1


def test_a_page_past_the_end_says_so(db):
    out = CliRunner().invoke(cli, ["runs", "--db", db, "--page", "1000000000"]).output
    assert "No runs on page 1,000,000,000 (5 runs)" in out


def test_name_filter_on_postgresql(postgres_url):
    """The same filter and count in SQL on PostgreSQL (LIKE is case-sensitive there)."""
    import uuid

    from frugalml.store import Store

    store = Store(postgres_url)
    tag = uuid.uuid4().hex[:8]
    for i, name in enumerate([f"{tag}-Train-a", f"{tag}-train-b", f"{tag}-eval_1%"]):
        store.create_run({"id": f"{tag}{i}", "name": name, "started_at": 1.0 + i})
    try:
        assert store.count_runs(name_like=f"{tag}-TRAIN") == 2
        assert [r.name for r in store.list_runs(name_like=f"{tag}-t*-?")] == [
            f"{tag}-train-b",
            f"{tag}-Train-a",
        ]
        assert store.count_runs(name_like="eval_1%") >= 1  # _ and % are literal
        assert store.count_runs(name_like=f"{tag}-eval-1") == 0
        assert store.count_runs(name_like=f"{tag}", status="finished") == 0
    finally:
        store.close()

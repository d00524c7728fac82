"""The headline figures of a selection of runs (or of a bench file alone), each with its method.

Uncertainties of several runs are combined as fully correlated (an energy-weighted mean of
the relative uncertainties): runs measured the same way on the same machine share their
model's systematic error, so it does not average out.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from frugalml import _fmt as fmt
from frugalml.carbon import lookup_region
from frugalml.errors import UnknownNameError
from frugalml.measure.run import GRID_FACTOR_UNCERTAINTY
from frugalml.report.data import RunInfo, number
from frugalml.report.model import Component, RegionShare, Summary
from frugalml.report.modelcard import hardware_line

__all__ = ["METHOD_WORDS", "bench_summary", "describe_methods", "region_shares", "runs_summary"]

METHOD_WORDS = {
    "rapl": "RAPL energy counters (hardware)",
    "nvml-energy": "NVIDIA NVML energy counter (hardware)",
    "nvml-power": "NVIDIA NVML power readings integrated over time (hardware)",
    "amdsmi-energy": "AMD SMI energy counter (hardware)",
    "amdsmi-power": "AMD SMI power readings integrated over time (hardware)",
    "cpu-model": "modelled from the process's CPU time and the CPU's rated power (TDP)",
    "ram-model": "modelled from resident memory at 0.375 W/GiB",
    "constant": "a constant power declared by the user",
    "replay": "replayed from a recorded trace",
}


def describe_methods(methods: dict[str, str]) -> str:
    """Plain words for ``{component: method}``: what was measured and what was modelled."""
    if not methods:
        return "method not recorded"
    by_method: dict[str, list[str]] = defaultdict(list)
    for comp, m in sorted(methods.items()):
        by_method[m].append(comp)
    measured = [m for m in by_method if not m.endswith("-model")]
    head = (
        "measured by hardware counters"
        if not any(m.endswith("-model") for m in by_method)
        else "modelled, not measured by hardware counters"
        if not measured
        else "partly measured, partly modelled"
    )
    parts = [f"{', '.join(comps)}: {METHOD_WORDS.get(m, m)}" for m, comps in by_method.items()]
    return f"{head} ({'; '.join(parts)})"


def _weighted(pairs: list[tuple[float, float | None]]) -> float | None:
    known = [(e, u) for e, u in pairs if u is not None and math.isfinite(u)]
    total = sum(e for e, _ in known)
    if not known or total <= 0:
        return None
    return sum(e * u for e, u in known) / total


def _intensity_source(code: str | None) -> str:
    if not code:
        return ""
    try:
        r = lookup_region(code)
    except UnknownNameError:
        return ""
    return f"{r.source}, {r.year}"


def _annual(code: str | None) -> float | None:
    try:
        return lookup_region(code).intensity_g_per_kwh if code else None
    except UnknownNameError:
        return None


def _facility_kwh(r: RunInfo) -> float:
    return r.energy_j / 3.6e6 * (r.pue or 1.0)


def _mean_intensity(runs: list[RunInfo]) -> float | None:
    """The intensity the runs' CO2e was computed with: CO2e / facility kWh, energy-weighted
    (the plain mean of the runs' figures when they used no energy)."""
    kwh = sum(_facility_kwh(r) for r in runs)
    if kwh > 0:
        return sum(r.co2e_g for r in runs) / kwh
    known = [r.intensity_g_per_kwh for r in runs if r.intensity_g_per_kwh is not None]
    return sum(known) / len(known) if known else None


def _basis(runs: list[RunInfo]) -> str:
    flags = {r.intensity_time_varying for r in runs}
    return "time series" if flags == {True} else "mixed" if len(flags) > 1 else "annual"


def region_shares(runs: list[RunInfo]) -> list[RegionShare]:
    """Each region of ``runs`` with its share of the IT energy and the intensity used, largest
    share first."""
    by_code: dict[str, list[RunInfo]] = defaultdict(list)
    for r in runs:
        by_code[r.region or "unknown"].append(r)
    total = sum(r.energy_j for r in runs)
    shares = []
    for code, rs in by_code.items():
        flags = {r.intensity_time_varying for r in rs}
        energy = sum(r.energy_j for r in rs)
        shares.append(
            RegionShare(
                code=code,
                name=rs[0].region_name,
                energy_share=energy / total if total > 0 else 1 / len(by_code),
                intensity_g_per_kwh=rs[0].intensity_g_per_kwh
                if flags == {False} and len({r.intensity_g_per_kwh for r in rs}) == 1
                else _mean_intensity(rs),
                time_varying=next(iter(flags)) if len(flags) == 1 else None,
            )
        )
    return sorted(shares, key=lambda x: (-x.energy_share, x.code))


def _intensity_text(runs: list[RunInfo], region: str, basis: str) -> str:
    """Where the intensity came from: the table's source, the time-series file(s), or both."""
    files = sorted({Path(r.intensity_file).name for r in runs if r.intensity_file})
    series = "the time series in " + (", ".join(files) if files else "an --intensity-csv file")
    annual = _intensity_source(region) if len({r.region for r in runs}) == 1 else ""
    if basis == "annual":
        return annual or "annual averages of frugalml's grid table"
    if basis == "time series":
        return f"energy-weighted mean of {series}"
    n = sum(r.intensity_time_varying for r in runs)
    return (
        f"energy-weighted mean: {n:,} run(s) on {series}, {len(runs) - n:,} on annual averages"
        + (f" ({annual})" if annual else "")
    )


def _pue_shares(runs: list[RunInfo]) -> list[tuple[float, float]]:
    energy: dict[float, float] = defaultdict(float)
    for r in runs:
        if r.pue is not None:
            energy[r.pue] += r.energy_j
    total = sum(energy.values())
    return sorted(
        ((p, e / total if total > 0 else 1 / len(energy)) for p, e in energy.items()),
        key=lambda x: -x[1],
    )


def runs_summary(runs: list[RunInfo], no_samples: int = 0) -> Summary:
    """Summary over ``runs`` (``no_samples``: how many of them have no sample rows)."""
    energy = sum(r.energy_j for r in runs)
    regions = Counter(r.region or "unknown" for r in runs)
    shares = region_shares(runs)
    region = shares[0].code if shares else "unknown"
    first = next((r for r in runs if (r.region or "unknown") == region), None)
    pues = {r.pue for r in runs}
    pue = next(iter(pues)) if len(pues) == 1 else None
    pue_shares = _pue_shares(runs)
    it_kwh = energy / 3.6e6
    pue_mean = sum(_facility_kwh(r) for r in runs) / it_kwh if it_kwh > 0 else pue
    basis = _basis(runs)
    intensity = (
        first.intensity_g_per_kwh
        if first and basis == "annual" and len(regions) == 1 and len(pues) == 1
        else _mean_intensity(runs)
    )
    comps: dict[str, list[tuple[float, float | None, str]]] = defaultdict(list)
    for r in runs:
        for c, e in r.components.items():
            comps[c].append((e, r.uncertainty.get(c), r.methods.get(c, "unknown")))
    comp_total = sum(e for rows in comps.values() for e, _, _ in rows)
    components = []
    methods: dict[str, str] = {}
    for c in sorted(comps):
        rows = comps[c]
        ms = sorted({m for _, _, m in rows})
        method = ms[0] if len(ms) == 1 else "mixed: " + ", ".join(ms)
        methods[c] = method
        e = sum(x for x, _, _ in rows)
        components.append(
            Component(
                name=c,
                energy_j=e,
                share=e / comp_total if comp_total > 0 else 0.0,
                method=method,
                measured=None
                if len(ms) > 1
                else not ms[0].endswith("-model") and ms[0] != "unknown",
                uncertainty=_weighted([(x, u) for x, u, _ in rows]),
            )
        )
    flags = {r.measured for r in runs}
    u_energy = _weighted([(r.energy_j, r.uncertainty.get("total")) for r in runs])
    u_co2e = _weighted([(r.energy_j, r.uncertainty.get("co2e")) for r in runs])
    if u_co2e is None and u_energy is not None:
        u_co2e = math.hypot(u_energy, GRID_FACTOR_UNCERTAINTY if basis != "time series" else 0)
    hardware = list(dict.fromkeys(hardware_line(r.hardware) for r in runs if r.hardware))
    statuses = Counter(r.status for r in runs)
    s = Summary(
        n_runs=len(runs),
        energy_j=energy,
        co2e_g=sum(r.co2e_g for r in runs),
        duration_s=sum(r.duration_s for r in runs),
        duration_basis="wall time" if len(runs) == 1 else "sum of the runs' wall times",
        hardware="; ".join(hardware[:3])
        + (f" and {len(hardware) - 3} more" if len(hardware) > 3 else "")
        if hardware
        else "hardware not recorded",
        region=region,
        region_name=first.region_name if first else "unknown region",
        intensity_g_per_kwh=intensity,
        intensity_source=_intensity_text(runs, region, basis),
        pue=pue,
        pue_source=first.pue_source if first and pue is not None else "",
        method="+".join(sorted({m for r in runs for m in r.methods.values()})) or "unknown",
        method_text=describe_methods({c: m for c, m in methods.items()}),
        measured=next(iter(flags)) if len(flags) == 1 else None,
        uncertainty_energy=u_energy,
        uncertainty_co2e=u_co2e,
        energy_basis=f"sum of {len(runs):,} run(s) in the registry (IT energy, before PUE)",
        statuses=dict(statuses),
        components=components,
        regions=shares,
        intensity_basis=basis,
        intensity_annual_g_per_kwh=_annual(region)
        if basis != "annual" and len(regions) == 1
        else None,
        pue_mean=pue_mean,
        pue_shares=pue_shares,
    )
    if len(regions) > 1:
        s.notes.append(
            "The runs used several regions ("
            + ", ".join(f"{x.code} {x.energy_share:.0%} of the energy" for x in shares)
            + "); CO2e adds each run's own figure, the carbon context uses the largest one."
        )
    if len(pues) > 1:
        s.notes.append(
            "The runs used several PUE values ("
            + ", ".join(f"{fmt.num(p)} for {share:.0%} of the energy" for p, share in pue_shares)
            + "); CO2e adds each run's own figure."
        )
    if basis != "annual":
        s.notes.append(
            f"Grid intensity: {s.intensity_source}"
            + (
                f"; the region's annual average ({fmt.num(s.intensity_annual_g_per_kwh)} "
                "gCO2e/kWh) is shown for comparison only."
                if s.intensity_annual_g_per_kwh is not None
                else "."
            )
        )
    bad = [r for r in runs if r.problems]
    if bad:
        s.notes.append(
            f"{len(bad)} run(s) hold a non-finite figure, left out of the sums (counted as 0): "
            + "; ".join(f"{fmt.safe(r.name)} ({', '.join(r.problems)})" for r in bad[:5])
            + (" ..." if len(bad) > 5 else "")
            + ". Such values come from a sensor fault recorded by an older frugalml."
        )
    for status, word in (
        ("interrupted", "were interrupted (figures up to their last saved sample)"),
        ("running", "are still running (figures so far)"),
        ("failed", "failed"),
        (
            "budget-stopped",
            "were stopped at their energy or carbon budget (figures up to the stop)",
        ),
    ):
        if statuses.get(status):
            s.notes.append(f"{statuses[status]} run(s) {word}.")
    if no_samples:
        s.notes.append(
            f"{no_samples} run(s) have no samples recorded (no power timeline; energy as last "
            "saved)."
        )
    if "world" in regions:
        s.notes.append(
            "Region: world average (no region configured) for "
            + ("these runs" if len(regions) == 1 else f"{regions['world']} run(s)")
            + ". Set --region or FRUGAL_REGION when you measure to use your grid's intensity."
        )
    return s


def bench_summary(data: dict[str, Any], runs: list[RunInfo], no_samples: int = 0) -> Summary:
    """Summary of a bench: its registry runs when found, else what results.json says."""
    config = data.get("config") or {}
    machine = data.get("machine") or {}
    if runs:
        s = runs_summary(runs, no_samples)
    else:
        total = 0.0
        co2e = 0.0
        for task in (data.get("tasks") or {}).values():
            for row in [task.get("baseline"), *(task.get("techniques") or {}).values()]:
                if isinstance(row, dict) and row.get("status") == "ok":
                    n = len(row.get("accuracy_values") or []) or int(config.get("repeats") or 1)
                    total += (number(row.get("train_energy_j")) or 0.0) * n
                    co2e += (number(row.get("co2e_g")) or 0.0) * n
        region = str(config.get("region") or "unknown")
        try:
            region_name = lookup_region(region).name
        except UnknownNameError:
            region_name = region
        method = str(config.get("energy_method") or "unknown")
        intensity = number(config.get("intensity_g_per_kwh"))
        pue = number(config.get("pue"))
        s = Summary(
            n_runs=0,
            energy_j=total,
            co2e_g=co2e,
            duration_s=0.0,
            duration_basis="",
            hardware="",
            region=region,
            region_name=region_name,
            intensity_g_per_kwh=intensity,
            intensity_source=_intensity_source(region),
            pue=pue,
            pue_source="from results.json",
            method=method,
            method_text=describe_methods({m: m for m in method.split("+")}),
            measured=not method.endswith("-model") if method != "unknown" else None,
            uncertainty_energy=None,
            uncertainty_co2e=None,
            energy_basis="training energy of every row × repeats, from results.json (inference "
            "measurements "
            "not included; the bench's registry runs were not found)",
            regions=[RegionShare(region, region_name, 1.0, intensity, False)],
            pue_mean=pue,
            pue_shares=[(pue, 1.0)] if pue is not None else [],
        )
        s.notes.append(
            "The bench's runs are not in this registry: uncertainty, components and timelines are "
            "unavailable. Pass --db with the registry the bench wrote to."
        )
    s.hardware = hardware_line(machine) if machine else s.hardware
    if isinstance(config.get("duration_s"), int | float) and config["duration_s"] > 0:
        s.duration_s = float(config["duration_s"])
        s.duration_basis = "bench wall time, from results.json"
    return s

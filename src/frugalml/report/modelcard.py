"""What to paste: the Hugging Face model-card ``co2_eq_emissions`` block and a paper's energy
statement, both from the report's summary.

The model-card fields follow the Hugging Face model-card metadata: ``emissions`` in grams of
CO2e, ``source``, ``training_type``, ``geographical_location``, ``hardware_used``.
"""

from __future__ import annotations

import json
from typing import Any

from frugalml import _fmt as fmt
from frugalml.measure.run import GRID_FACTOR_UNCERTAINTY
from frugalml.report.model import ModelCard, Summary

__all__ = ["TRAINING_TYPES", "energy_statement", "hardware_line", "location", "model_card"]

MAX_LISTED = 5

TRAINING_TYPES = ("pre-training", "fine-tuning")


def hardware_line(hw: dict[str, Any]) -> str:
    """``Intel Xeon ... (2 threads), 24 GiB RAM, 1 × NVIDIA H100`` from a run's hardware block."""
    parts = []
    cpu = hw.get("cpu_model")
    if cpu:
        threads = hw.get("cpu_threads_visible") or hw.get("cpu_threads")
        parts.append(f"{cpu} ({threads} threads)" if threads else str(cpu))
    ram = hw.get("ram_bytes")
    if isinstance(ram, int | float) and ram > 0:
        parts.append(f"{ram / 2**30:.0f} GiB RAM")
    names: dict[str, int] = {}
    for gpu in hw.get("gpus") or []:
        name = str(gpu.get("name") or "GPU") if isinstance(gpu, dict) else str(gpu)
        names[name] = names.get(name, 0) + 1
    parts += [f"{n} × {name}" for name, n in names.items()]
    return ", ".join(parts) or "hardware not recorded"


def _yaml_scalar(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int | float):
        return f"{v:.6g}"
    return json.dumps(
        str(v), ensure_ascii=False
    )  # a JSON string is a valid YAML double-quoted scalar


def _share(x: float) -> str:
    return "<1 %" if 0 < x < 0.005 else f"{x * 100:.0f} %"


def _intensity(x: float | None) -> str:
    return "intensity not recorded" if x is None else f"{fmt.num(x)} gCO2e/kWh"


def location(summary: Summary) -> str:
    """Where the energy was used: the region, or over several regions ``mixed:`` and each
    region with its share of the energy and the intensity its runs used.

    Example:
        >>> from frugalml.report.model import RegionShare, Summary
        >>> s = Summary(2, 1.0, 1.0, 1.0, "", "", "FR", "France", 100.0, "", None, "", "", "",
        ...             None, None, None, "", regions=[RegionShare("FR", "France", 0.75, 44.2,
        ...             False), RegionShare("DE", "Germany", 0.25, 381.0, False)])
        >>> location(s)
        'mixed: France (FR; 75 % of the energy; 44.2 gCO2e/kWh), Germany (DE; 25 %; 381 gCO2e/kWh)'
    """
    if len(summary.regions) <= 1:
        return summary.region_name
    parts = [
        f"{r.name} ({r.code}; {_share(r.energy_share)}{' of the energy' if i == 0 else ''}; "
        f"{_intensity(r.intensity_g_per_kwh)})"
        for i, r in enumerate(summary.regions[:MAX_LISTED])
    ]
    more = len(summary.regions) - MAX_LISTED
    return "mixed: " + ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def model_card(summary: Summary, version: str, training_type: str = "pre-training") -> ModelCard:
    """The ``co2_eq_emissions`` metadata for a model card, with its YAML.

    Example:
        >>> from frugalml.report.model import Summary
        >>> s = Summary(1, 3.6e6, 473.0, 60.0, "", "CPU", "world", "World average", 473.0,
        ...             "Ember", 1.0,
        ...             "personal machine", "cpu-model", "modelled", False, 0.4, 0.43, "")
        >>> print(model_card(s, "0.1.0").yaml.splitlines()[1])
          emissions: 473
    """
    how = "measured by hardware counters" if summary.measured else "modelled"
    unc = fmt.pct(summary.uncertainty_co2e)
    source = f"frugalml {version} ({summary.method}; {how}; {unc})"
    block = {
        "emissions": float(f"{summary.co2e_g:.4g}"),
        "source": source,
        "training_type": training_type,
        "geographical_location": location(summary),
        "hardware_used": summary.hardware,
    }
    lines = ["co2_eq_emissions:"] + [f"  {k}: {_yaml_scalar(v)}" for k, v in block.items()]
    return ModelCard(co2_eq_emissions=block, yaml="\n".join(lines) + "\n")


def _pue_clause(summary: Summary) -> str:
    if summary.pue is not None:
        source = summary.pue_source or "source not recorded"
        return f"a power usage effectiveness (PUE) of {fmt.num(summary.pue)} [{source}]"
    if summary.pue_shares:
        parts = [f"{fmt.num(p)} ({_share(x)})" for p, x in summary.pue_shares[:MAX_LISTED]]
        return (
            f"power usage effectivenesses (PUE) of {', '.join(parts)} by share of the energy, "
            f"an energy-weighted mean of {fmt.num(summary.pue_mean)}"
        )
    return "a power usage effectiveness (PUE) that was not recorded"


def _grid_clause(summary: Summary) -> str:
    if len(summary.regions) > 1:
        return (
            f"the grid carbon intensities of the regions used ({location(summary)[len('mixed: ') :]}"
            f"; an energy-weighted mean of {_intensity(summary.intensity_g_per_kwh)}; "
            f"{summary.intensity_source or 'source not recorded'})"
        )
    text = (
        f"the grid carbon intensity of {summary.region_name} "
        f"({_intensity(summary.intensity_g_per_kwh)}; "
        f"{summary.intensity_source or 'source not recorded'}"
    )
    if summary.intensity_annual_g_per_kwh is not None:
        text += (
            f"; the region's annual average, {_intensity(summary.intensity_annual_g_per_kwh)}, "
            "for comparison only"
        )
    return text + ")"


def _grid_uncertainty(summary: Summary) -> str:
    grid = f"±{GRID_FACTOR_UNCERTAINTY * 100:.0f} %"
    if summary.intensity_basis == "time series":
        return ""
    if summary.intensity_basis == "mixed":
        return f", including {grid} for the runs that used an annual-average grid factor"
    return f", including {grid} for the use of an annual-average grid factor"


def energy_statement(
    summary: Summary, version: str, fpo: list[tuple[str, float, str]] | None = None
) -> str:
    """One paragraph for a paper: hardware, duration, energy, CO2e, region, PUE, method,
    uncertainty and the FPO of the final model(s) (``[(what, fpo, basis)]``)."""
    runs = "one run" if summary.n_runs == 1 else f"{summary.n_runs:,} runs"
    text = (
        f"Energy and carbon. The computation reported here ({runs}) took "
        f"{fmt.duration(summary.duration_s)} ({summary.duration_basis}) on {summary.hardware}. "
        f"It used {fmt.kwh(summary.energy_j)} of IT energy ({fmt.pct(summary.uncertainty_energy)}); "
        f"energy was {summary.method_text}. With {_pue_clause(summary)} and "
        f"{_grid_clause(summary)}, this corresponds to {fmt.co2e(summary.co2e_g)} CO2e "
        f"({fmt.pct(summary.uncertainty_co2e)}{_grid_uncertainty(summary)}). "
    )
    if fpo:
        parts = [
            f"{what}, {fmt.num(value)} floating-point operations (FPO) per inference sample "
            f"({basis})"
            for what, value, basis in fpo
        ]
        text += "Final model: " + "; ".join(parts) + ". "
    else:
        text += "The floating-point operations (FPO) of the final model were not recorded. "
    text += f"Figures and relative uncertainties as estimated by frugalml {version}."
    return text

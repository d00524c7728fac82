"""The Hugging Face model card's ``co2_eq_emissions`` block for one finished run, and writing it
into a card's YAML header.

The block is the one ``frugal report`` prints (same summary, same wording), built from the
run in memory, so it needs no registry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from frugalml.measure.run import Run

__all__ = ["emissions_block", "write_emissions"]


def emissions_block(run: Run, training_type: str = "pre-training") -> dict[str, Any]:
    """``{"emissions": g CO2e, "source", "training_type", "geographical_location",
    "hardware_used"}`` for a model card's metadata.

    Example:
        >>> with frugalml.track("fit", db=False, region="FR") as run:  # doctest: +SKIP
        ...     train()
        >>> emissions_block(run, "fine-tuning")["geographical_location"]  # doctest: +SKIP
        'France'
    """
    from frugalml import __version__
    from frugalml.report.data import RunInfo
    from frugalml.report.modelcard import model_card
    from frugalml.report.summary import runs_summary

    energy = run.energy_j
    total = energy.pop("total")
    info = RunInfo(
        id=run.id,
        name=run.name,
        status=run.status,
        started_at=run.started_at,
        duration_s=run.duration_s,
        energy_j=total,
        co2e_g=run.co2e_g,
        components=energy,
        methods=dict(run.methods),
        uncertainty=run.uncertainty,
        measured=run.measured,
        region=run.region,
        region_name=run.region_name,
        region_source=run.region_source,
        intensity_g_per_kwh=run.intensity_g_per_kwh,
        pue=run.pue,
        pue_source=run.pue_source,
        interval_s=run.interval_s,
        hardware=dict(run.hardware),
    )
    return model_card(runs_summary([info]), __version__, training_type).co2_eq_emissions


def write_emissions(card_path: str | os.PathLike[str], block: dict[str, Any]) -> Path:
    """Put ``block`` under ``co2_eq_emissions`` in the YAML header of a model card (README.md),
    keeping everything else; a missing card is created with only that header.

    Uses ``huggingface_hub.ModelCard`` (installed with transformers): read and written
    locally, nothing is uploaded.
    """
    from frugalml._lazy import require

    hub = require("huggingface_hub", "Writing a model card")
    path = Path(card_path)
    if path.exists():
        card = hub.ModelCard.load(path)
    else:
        card = hub.ModelCard("---\n---\n\nEnergy and carbon measured by frugalml.\n")
    card.data.co2_eq_emissions = block
    path.parent.mkdir(parents=True, exist_ok=True)
    card.save(path)
    return path

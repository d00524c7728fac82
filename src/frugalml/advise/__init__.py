"""The advise stage: where, when and how a measured run would cost less.

``advise(run_id, intensity=..., model=..., example=...)`` returns an :class:`Advice` whose
``where``, ``when`` and ``how`` lists are ranked best first, each item saying how it was
obtained (``basis``). ``frugal advise RUN_ID`` is the command-line face of it.

Example:
    >>> from frugalml.advise import advise_where
    >>> advise_where(3.6e6, "FR", pue=1.0, intensity_g_per_kwh=44.18, top=1)[0].scope
    'overall'
"""

from __future__ import annotations

from frugalml.advise.advice import Advice, advise
from frugalml.advise.how import HowOption, ModelMeasurement, bench_options, measure_model
from frugalml.advise.when import WhenOption, advise_when, power_profile
from frugalml.advise.where import WhereOption, advise_where, rank_regions

__all__ = [
    "Advice",
    "HowOption",
    "ModelMeasurement",
    "WhenOption",
    "WhereOption",
    "advise",
    "advise_when",
    "advise_where",
    "bench_options",
    "measure_model",
    "power_profile",
    "rank_regions",
]

"""Everyday equivalents of an energy or a mass of CO2e, each with its source.

Energy-based equivalents (kettle, light bulb) do not depend on the grid; CO2-based ones
(car kilometres) use the report's CO2e. Only figures with a stated basis are listed here;
see ``docs/report.md`` for why some popular ones (smartphone charges, trees) are not.
"""

from __future__ import annotations

from dataclasses import dataclass

from frugalml.report.model import Equivalent

__all__ = ["EQUIVALENTS", "EquivalentFactor", "equivalents"]

_J_PER_KWH = 3.6e6
_KM_PER_MILE = 1.609344


@dataclass(frozen=True)
class EquivalentFactor:
    """One everyday unit: ``per_unit`` joules (basis ``energy``) or grams CO2e (``co2e``)."""

    label: str
    unit: str
    basis: str
    per_unit: float
    factor: str
    source: str
    year: int | None
    url: str


EQUIVALENTS: tuple[EquivalentFactor, ...] = (
    EquivalentFactor(
        label="Driving an average petrol passenger car",
        unit="km",
        basis="co2e",
        per_unit=400.0 / _KM_PER_MILE,  # 248.5 g CO2 per km
        factor="400 g CO2 per mile = 248.5 g per km (tailpipe CO2)",
        source="US EPA, Greenhouse Gas Emissions from a Typical Passenger Vehicle "
        "(EPA-420-F-23-014)",
        year=2023,
        url="https://www.epa.gov/greenvehicles/greenhouse-gas-emissions-typical-passenger-vehicle",
    ),
    EquivalentFactor(
        label="Boiling 1 litre of water from 20 °C",
        unit="kettles",
        basis="energy",
        per_unit=4186.0 * 80.0,  # 334.9 kJ = 0.093 kWh
        factor="4.186 kJ/(kg·K) × 1 kg × 80 K = 0.093 kWh (heat only; a real kettle also "
        "loses some)",
        source="Specific heat capacity of liquid water, 4.186 J/(g·K) (physical property)",
        year=None,
        url="https://en.wikipedia.org/wiki/Specific_heat_capacity",
    ),
    EquivalentFactor(
        label="Lighting a 60 W incandescent bulb",
        unit="hours",
        basis="energy",
        per_unit=60.0 * 3600.0,  # 0.06 kWh
        factor="60 W × 1 h = 0.06 kWh (by the bulb's rating)",
        source="Definition of the rating: a 60 W bulb draws 60 W",
        year=None,
        url="",
    ),
)


def equivalents(facility_energy_j: float, co2e_g: float) -> list[Equivalent]:
    """How much of each everyday unit matches ``facility_energy_j`` (J) or ``co2e_g`` (g).

    Example:
        >>> [round(e.amount, 2) for e in equivalents(3.6e6, 248.5)][:2]
        [1.0, 10.75]
    """
    out = []
    for f in EQUIVALENTS:
        amount = (co2e_g if f.basis == "co2e" else facility_energy_j) / f.per_unit
        out.append(
            Equivalent(
                label=f.label,
                amount=amount,
                unit=f.unit,
                basis=f.basis,
                factor=f.factor,
                source=f.source,
                year=f.year,
                url=f.url,
            )
        )
    return out

"""A fake Linux powercap sysfs tree, laid out as the kernel lays it out.

``make_powercap_tree(tmp_path)`` builds ``intel-rapl:0`` (package-0) with ``core``, ``uncore``
and ``dram`` sub-zones, optionally a ``psys`` zone and more packages; ``FakePowercap`` then
advances counters, wrapping at ``max_energy_range_uj`` exactly like the hardware, and can make
``energy_uj`` unreadable (root-only since Linux 5.10).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FakePowercap", "make_powercap_tree"]

DEFAULT_RANGE_UJ = 262_143_328_850  # a real package's max_energy_range_uj (Skylake-SP)


@dataclass
class FakePowercap:
    """Handle on a fake powercap tree: ``add_j(zone, joules)`` advances a counter."""

    root: Path

    def zone(self, zone_id: str) -> Path:
        return self.root / zone_id

    def energy_uj(self, zone_id: str) -> int:
        return int((self.zone(zone_id) / "energy_uj").read_text())

    def set_uj(self, zone_id: str, value_uj: int) -> None:
        (self.zone(zone_id) / "energy_uj").write_text(f"{value_uj}\n")

    def add_j(self, zone_id: str, joules: float) -> None:
        """Advance a zone's counter by ``joules``, wrapping at its range as RAPL does."""
        rng = int((self.zone(zone_id) / "max_energy_range_uj").read_text())
        self.set_uj(zone_id, (self.energy_uj(zone_id) + round(joules * 1e6)) % (rng + 1))

    def make_unreadable(self, zone_id: str) -> None:
        """Make ``energy_uj`` unreadable (as for a non-root user on Linux >= 5.10)."""
        os.chmod(self.zone(zone_id) / "energy_uj", 0o000)


def _zone(root: Path, zone_id: str, name: str, energy_uj: int, range_uj: int) -> None:
    d = root / zone_id
    d.mkdir(parents=True, exist_ok=True)
    (d / "name").write_text(f"{name}\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{range_uj}\n")
    (d / "enabled").write_text("1\n")


def make_powercap_tree(
    root: str | os.PathLike[str],
    *,
    packages: int = 1,
    dram: bool = True,
    core: bool = True,
    psys: bool = False,
    mmio: bool = False,
    range_uj: int = DEFAULT_RANGE_UJ,
    start_uj: int = 1_000_000,
) -> FakePowercap:
    """Create a powercap tree under ``root`` and return a handle to drive it.

    Zones: ``intel-rapl:N`` (``package-N``), with sub-zones ``intel-rapl:N:0`` (``core``),
    ``intel-rapl:N:1`` (``uncore``), ``intel-rapl:N:2`` (``dram``); ``intel-rapl:P`` (``psys``)
    after the packages; ``intel-rapl-mmio:0`` mirroring package 0 when ``mmio``.
    """
    base = Path(root)
    for n in range(packages):
        _zone(base, f"intel-rapl:{n}", f"package-{n}", start_uj, range_uj)
        if core:
            _zone(base, f"intel-rapl:{n}:0", "core", start_uj // 2, range_uj)
            _zone(base, f"intel-rapl:{n}:1", "uncore", start_uj // 4, range_uj)
        if dram:
            _zone(base, f"intel-rapl:{n}:2", "dram", start_uj // 3, range_uj)
    if psys:
        _zone(base, f"intel-rapl:{packages}", "psys", start_uj * 2, range_uj)
    if mmio:
        _zone(base, "intel-rapl-mmio:0", "package-0", start_uj, range_uj)
    return FakePowercap(base)

"""CPU package and DRAM energy from Intel/AMD RAPL through Linux powercap sysfs.

Layout (``/sys/class/powercap``)::

    intel-rapl:0/            name = package-0   energy_uj  max_energy_range_uj
    intel-rapl:0:0/          name = core        (inside package-0: not added again)
    intel-rapl:0:1/          name = uncore      (inside package-0: not added again)
    intel-rapl:0:2/          name = dram        (outside the package domain: added to dram)
    intel-rapl:1/            name = psys        (whole platform: used only without packages)
    intel-rapl-mmio:0/       name = package-0   (same domain through MMIO: ignored if MSR zones exist)

AMD Zen exposes the same interface (package zones, named ``package-N``). Counters are in
microjoules and wrap at ``max_energy_range_uj``; the tracker adds the range back when a
reading goes down. Since Linux 5.10 (CVE-2020-8694) ``energy_uj`` is readable by root only.

Relative uncertainty: 0.05 for packages (RAPL package energy tracks wall-plug measurements
closely on Haswell and later: Khan et al., "RAPL in Action", ACM TOMPECS 2018), 0.10 for DRAM
(model-based on some client parts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from frugalml.errors import SensorError, SensorUnavailableError
from frugalml.measure.base import Availability, Channel, Reading, Sensor

__all__ = ["DEFAULT_POWERCAP_ROOT", "RaplSensor"]

log = logging.getLogger(__name__)

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"
PERMISSION_FIX = (
    "RAPL energy counters are readable only by root since Linux 5.10. Ask an administrator to "
    "grant read access, e.g. `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj` "
    "(or a udev rule / systemd-tmpfiles entry to keep it after reboot), or run as root. "
    "Meanwhile frugalml uses its CPU model."
)


@dataclass(frozen=True)
class _Zone:
    path: Path
    component: str
    uncertainty: float
    wrap_j: float | None


class RaplSensor(Sensor):
    """Energy of CPU packages (``cpu``) and DRAM (``dram``) from RAPL counters.

    Args:
        root: the powercap sysfs folder; tests pass a fake tree built in a temp folder
            (see :func:`frugalml.testing.make_powercap_tree`).
    """

    name = "rapl"

    def __init__(self, root: str | Path = DEFAULT_POWERCAP_ROOT) -> None:
        self.root = Path(root)
        self._zones: dict[str, _Zone] | None = None
        self._why_not = ""

    def _discover(self) -> dict[str, _Zone]:
        if not self.root.is_dir():
            self._why_not = f"no powercap sysfs at {self.root} (no RAPL on this machine or VM)"
            return {}
        zones = {}
        for interface in ("intel-rapl", "intel-rapl-mmio"):
            found = self._zones_of(interface)
            if found:
                zones = found
                break
        if not zones:
            self._why_not = f"no RAPL package or DRAM zones under {self.root}"
        return zones

    def _zones_of(self, interface: str) -> dict[str, _Zone]:
        tops: dict[str, _Zone] = {}
        drams: dict[str, _Zone] = {}
        psys: dict[str, _Zone] = {}
        for d in sorted(self.root.glob(f"{interface}:*")):
            parts = d.name.split(":")
            name = _read_text(d / "name")
            if name is None:
                continue
            depth = len(parts) - 1  # intel-rapl:0 -> 1, intel-rapl:0:2 -> 2
            wrap_j = _read_number(d / "max_energy_range_uj")
            if name.startswith("package"):
                if depth == 1:
                    tops[d.name] = _Zone(d, "cpu", 0.05, None if wrap_j is None else wrap_j / 1e6)
            elif name == "dram":
                drams[d.name] = _Zone(d, "dram", 0.10, None if wrap_j is None else wrap_j / 1e6)
            elif name == "psys" and depth == 1:
                psys[d.name] = _Zone(d, "cpu", 0.10, None if wrap_j is None else wrap_j / 1e6)
            # core / uncore sub-zones are inside their package: never added again.
        zones = {**tops, **drams} if tops else {**psys, **drams}
        return zones

    def available(self) -> Availability:
        if self._zones is None:
            self._zones = self._discover()
        if not self._zones:
            return Availability(False, self._why_not)
        for zone in self._zones.values():
            try:
                (zone.path / "energy_uj").read_text()
            except PermissionError:
                return Availability(
                    False, f"cannot read {zone.path / 'energy_uj'}: {PERMISSION_FIX}"
                )
            except OSError as e:
                return Availability(False, f"cannot read {zone.path / 'energy_uj'}: {e}")
        return Availability(True)

    def channels(self) -> list[Channel]:
        if self._zones is None:
            self._zones = self._discover()
        return [
            Channel(zone_id, z.component, "rapl", z.uncertainty, machine_wide=True)
            for zone_id, z in self._zones.items()
        ]

    def read(self) -> dict[str, Reading]:
        """Every zone's counter in joules. A zone that cannot be read gets
        ``Reading(error=...)`` so that the others keep counting; only when no zone reads at
        all does the sensor raise."""
        if self._zones is None:
            self._zones = self._discover()
        if not self._zones:
            raise SensorUnavailableError(self._why_not)
        out = {}
        errors = []
        for zone_id, zone in self._zones.items():
            try:
                uj = int((zone.path / "energy_uj").read_text())
            except (OSError, ValueError) as e:
                why = f"RAPL zone {zone_id} unreadable: {e}"
                if isinstance(e, PermissionError):
                    why += ". Read access to energy_uj was withdrawn (root-only since Linux 5.10)"
                out[zone_id] = Reading(error=why)
                errors.append(why)
                continue
            out[zone_id] = Reading(energy_j=uj / 1e6, wrap_j=zone.wrap_j)
        if errors and len(errors) == len(out):
            raise SensorError("; ".join(errors))
        return out

    def hardware(self) -> dict[str, object]:
        return {"rapl_zones": sorted(self._zones or {})}


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_number(path: Path) -> float | None:
    text = _read_text(path)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None

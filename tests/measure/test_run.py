"""Run: the tracker writes through methods that take the run's own lock, so readers in other
threads see whole intervals."""

from __future__ import annotations

import sys
import threading

from frugalml.testing._contracts import make_test_run


def test_readers_in_other_threads_see_whole_intervals():
    run = make_test_run()
    run.add_channel("dram", "ram-model", 0.3)
    done = threading.Event()
    seen: list[tuple[float, float, float, float]] = []

    def write() -> None:
        for i in range(20_000):
            run.add_energy(
                {("cpu", "cpu-model"): 2.0, ("dram", "ram-model"): 1.0},
                co2e_g=3.0,
                duration_s=float(i + 1),
            )
        done.set()

    def read() -> None:
        while not done.is_set():
            snapshot = run.to_dict()
            energy = snapshot["energy_j"]
            seen.append((energy["cpu"], energy["dram"], energy["total"], snapshot["co2e_g"]))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=write), threading.Thread(target=read)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert seen
    for cpu, dram, total, co2e in seen:  # one interval is 2 J cpu, 1 J dram, 3 g: never half
        assert cpu == 2 * dram and total == cpu + dram and co2e == total
    assert run.energy_j["total"] == 60_000.0 and run.co2e_g == 60_000.0

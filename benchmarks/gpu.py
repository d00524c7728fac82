"""GPU checks on real hardware: NVML energy against independently integrated power, tracking
overhead on a GPU training loop, tracker start + stop time with NVML, and the profiler on CUDA.

Skips (exit 0, says why) without a CUDA GPU. Writes benchmarks/results/gpu.json.

    python benchmarks/gpu.py [--seconds 10] [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "gpu.json"


def gpu_job(torch, seconds: float):  # type: ignore[no-untyped-def]
    """A training loop on the GPU sized to run about ``seconds``."""
    dev = torch.device("cuda")
    model = torch.nn.Sequential(
        torch.nn.Linear(4096, 8192),
        torch.nn.ReLU(),
        torch.nn.Linear(8192, 8192),
        torch.nn.ReLU(),
        torch.nn.Linear(8192, 1000),
    ).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(1024, 4096, device=dev)
    y = torch.randint(0, 1000, (1024,), device=dev)

    def steps(n: int) -> None:
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        torch.cuda.synchronize()

    steps(20)
    t = time.perf_counter()
    steps(50)
    per = (time.perf_counter() - t) / 50
    return steps, max(1, int(seconds / per))


def power_integrator(pynvml, handle, stop: threading.Event, out: list[float]) -> None:  # type: ignore[no-untyped-def]
    """Integrate nvmlDeviceGetPowerUsage at 20 Hz (trapezoid), independently of frugalml."""
    last_t, last_w, energy = time.monotonic(), pynvml.nvmlDeviceGetPowerUsage(handle) / 1000, 0.0
    while not stop.wait(0.05):
        t, w = time.monotonic(), pynvml.nvmlDeviceGetPowerUsage(handle) / 1000
        energy += (w + last_w) / 2 * (t - last_t)
        last_t, last_w = t, w
    out.append(energy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU here: GPU benchmark skipped")
        return
    import pynvml

    import frugalml
    from frugalml.measure.nvml import NvmlSensor
    from frugalml.measure.tracker import Tracker

    result: dict[str, object] = {
        "benchmark": "gpu",
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
    }
    steps, n = gpu_job(torch, args.seconds)

    # 1. NVML energy counter (frugalml) vs power integrated at 20 Hz by this script
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    stop, box = threading.Event(), []
    th = threading.Thread(target=power_integrator, args=(pynvml, handle, stop, box))
    th.start()
    with Tracker("gpu-energy-check", sensors=[NvmlSensor()], db=False, handle_signals=False) as run:
        steps(n)
    stop.set()
    th.join()
    result["energy_check"] = {
        "tracked_j": run.energy_j["gpu:0"],
        "method": run.methods.get("gpu:0"),
        "independent_power_integral_j": box[0],
        "ratio": run.energy_j["gpu:0"] / box[0],
        "duration_s": run.duration_s,
        "mean_power_w": run.energy_j["gpu:0"] / run.duration_s,
    }

    # 2. default sensors on this machine: which methods, hardware block
    with frugalml.track("gpu-default-sensors", db=False, handle_signals=False) as run2:
        steps(max(1, n // 4))
    d = run2.to_dict()
    result["default_sensors"] = {
        "methods": d["methods"],
        "energy_j": d["energy_j"],
        "uncertainty": d["uncertainty"],
        "gpus": d["hardware"]["gpus"],
        "skipped": d["sensors_skipped"],
    }

    # 3. start + stop with NVML on the start path
    times = []
    for _ in range(10):
        t = time.perf_counter()
        tr = Tracker("ss", db=False, handle_signals=False)
        tr.start()
        tr.stop()
        times.append(time.perf_counter() - t)
    result["start_stop_s"] = {
        "median": statistics.median(times),
        "max": max(times),
        "runs": len(times),
    }

    # 4. overhead on the GPU loop, paired and alternating, start/stop included
    ratios = []
    for p in range(args.pairs):
        timing = {}
        for variant in ("plain", "tracked") if p % 2 == 0 else ("tracked", "plain"):
            t = time.perf_counter()
            if variant == "tracked":
                with Tracker("ov", db=f"sqlite:////tmp/gpu-bench-{p}.db", handle_signals=False):
                    steps(n)
            else:
                steps(n)
            timing[variant] = time.perf_counter() - t
        ratios.append(timing["tracked"] / timing["plain"])
    result["overhead"] = {
        "ratios": ratios,
        "median_overhead_pct": (statistics.median(ratios) - 1) * 100,
        "job_s": args.seconds,
        "pairs": args.pairs,
    }

    # 5. the profiler on CUDA: counts, latency, energy per inference
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
    ).cuda()
    prof = frugalml.profile(
        model,
        torch.randn(64, 3, 224, 224, device="cuda"),
        latency_runs=20,
        measure_energy=True,
        energy_min_duration_s=2.0,
    )
    result["profile_cuda"] = {
        "macs": prof.macs,
        "latency_median_s": prof.latency.median_s if prof.latency else None,
        "energy": prof.energy.__dict__ if prof.energy else None,
    }

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()

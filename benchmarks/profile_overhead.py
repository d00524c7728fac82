"""Time to profile a ResNet-18-sized network, as a ratio to one plain forward pass.

The network is ResNet-18 (11.7 M parameters, 1.82 GMACs at 1x3x224x224), defined here so
nothing is downloaded. Each variant runs once untimed (warm-up), then ``--repeats`` rounds
time every variant once (round-robin); the figure is the ratio of medians, all within this
one run:

- plain forward: ``model(x)`` in eval mode under ``torch.no_grad()``;
- ``frugalml.profile(model, x)``: counting only (no latency or energy measurement);
- ``FlopCounterMode``: PyTorch's own counter on the same forward, for reference;
- with ``--train``: a plain training step (forward + gradients of all parameters) and
  ``frugalml.profile(model, x, train=True)`` (which counts a forward and a step).

    python benchmarks/profile_overhead.py [--repeats 5] [--batch 1] [--train]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "profile_overhead.json"


def resnet18(num_classes: int = 1000) -> Any:
    import torch.nn as nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
            for i, (cin, cout, stride) in enumerate(widths, start=1):
                setattr(
                    self,
                    f"layer{i}",
                    nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)),
                )
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18()


def timed(variants: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Round-robin: each round times every variant once, so interference on a shared
    machine hits all variants alike."""
    for fn in variants.values():
        fn()  # warm-up: first-call allocations, rule table build
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per variant")
    parser.add_argument("--batch", type=int, default=1, help="batch size")
    parser.add_argument("--train", action="store_true", help="also time the training step")
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table
    from torch.utils.flop_counter import FlopCounterMode

    import frugalml

    torch.manual_seed(0)
    model = resnet18().eval()
    x = torch.randn(args.batch, 3, 224, 224)
    params = [p for p in model.parameters() if p.requires_grad]

    def plain_forward() -> None:
        with torch.no_grad():
            model(x)

    def flop_counter_mode() -> None:
        with torch.no_grad(), FlopCounterMode(display=False):
            model(x)

    def plain_train_step() -> None:
        model.train()
        out = model(x)
        torch.autograd.grad([out], params, [torch.ones_like(out)])
        model.eval()

    variants: dict[str, Callable[[], Any]] = {
        "plain forward": plain_forward,
        "frugalml.profile": lambda: frugalml.profile(model, x),
        "FlopCounterMode": flop_counter_mode,
    }
    if args.train:
        variants["plain training step"] = plain_train_step
        variants["frugalml.profile(train=True)"] = lambda: frugalml.profile(model, x, train=True)
    times = timed(variants, args.repeats)
    medians = {name: statistics.median(t) for name, t in times.items()}
    counted = frugalml.profile(model, x)

    try:
        from frugalml.measure.hardware import machine_hardware

        machine: Any = machine_hardware()
    except Exception as e:  # the figure stands without the machine description
        machine = f"unavailable ({e})"
    result = {
        "benchmark": "profile_overhead",
        "machine": machine,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "input": list(x.shape),
        "repeats": args.repeats,
        "counted": {"macs": counted.macs, "flops": counted.flops, "params": counted.params},
        "times_s": times,
        "median_s": medians,
        "ratio_to_plain_forward": {n: m / medians["plain forward"] for n, m in medians.items()},
    }
    if args.train:
        result["ratio_train_profile_to_plain_step"] = (
            medians["frugalml.profile(train=True)"] / medians["plain training step"]
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))

    table = Table(
        title=f"Profiling cost, ResNet-18 on {'x'.join(map(str, x.shape))} "
        f"({counted.macs / 1e9:.2f} GMACs counted, {counted.params / 1e6:.1f} M params); "
        f"median of {args.repeats} round-robin runs after 1 warm-up"
    )
    table.add_column("variant")
    table.add_column("median", justify="right")
    table.add_column("min-max", justify="right")
    table.add_column("ratio to plain forward", justify="right")
    for name, t in times.items():
        table.add_row(
            name,
            f"{medians[name] * 1e3:.1f} ms",
            f"{min(t) * 1e3:.0f}-{max(t) * 1e3:.0f} ms",
            f"{medians[name] / medians['plain forward']:.2f}x",
        )
    Console().print(table)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

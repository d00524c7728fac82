"""Time to profile ResNet-50 and AlexNet, as ratios to a plain forward pass and to
PyTorch's ``FlopCounterMode``.

The networks are built here with torchvision's layouts (torchvision is not installable
beside our torch): ResNet-50 (25.6 M parameters, 4.1 GMACs at 1x3x224x224; compute-heavy,
many small operators) and AlexNet (61.1 M parameters, 0.71 GMACs; parameter-heavy: its
Linear layers hold 96 % of the weights). Random weights, nothing is downloaded. Per model,
each variant runs once untimed (warm-up), then ``--repeats`` rounds time every variant once
(round-robin, so interference on a shared machine hits all alike); figures are medians and
ratios within that one run:

- plain forward: ``model(x)`` in eval mode under ``torch.no_grad()``;
- ``frugalml.profile(model, x)``: counting only (no latency or energy measurement);
- ``FlopCounterMode``: PyTorch's own counter on the same forward, for reference;
- ``frugalml.profile(model, x, count_nonzero=False)``: without the non-zero count (no
  ``params_nonzero``, no effective FLOPs), which reads every weight once more;
- ``frugalml.profile(model, x, state_dict_size=True)``: plus the exact saved size;
- with ``--train``: a plain training step (forward + gradients of all parameters) and
  ``frugalml.profile(model, x, train=True)`` (which counts a forward and a step).

Target (issue #16): ``frugalml.profile`` <= 1.5x ``FlopCounterMode`` on both models.

    python benchmarks/profile_overhead.py [--repeats 7] [--batch 1] [--train] [--models resnet50,alexnet]
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


def resnet50(num_classes: int = 1000) -> Any:
    """ResNet-50 (He et al. 2016; torchvision's layout: bottleneck stride on the 3x3 conv)."""
    import torch.nn as nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = 4 * width
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + identity)

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = 64
            stages = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]
            for i, (width, blocks, stride) in enumerate(stages, start=1):
                layers = []
                for b in range(blocks):
                    layers.append(Bottleneck(cin, width, stride if b == 0 else 1))
                    cin = 4 * width
                setattr(self, f"layer{i}", nn.Sequential(*layers))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet50()


def alexnet(num_classes: int = 1000) -> Any:
    """AlexNet as torchvision builds it (Krizhevsky et al. 2012, one-GPU variant)."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d((6, 6)),
        nn.Flatten(),
        nn.Dropout(),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )


MODELS = {"resnet50": resnet50, "alexnet": alexnet}
TARGET_RATIO = 1.5  # frugalml.profile / FlopCounterMode (issue #16)


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


def run_model(name: str, batch: int, repeats: int, train: bool) -> dict[str, Any]:
    """Time every variant on one model, round-robin; medians and ratios within this run."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import frugalml

    torch.manual_seed(0)
    model = MODELS[name]().eval()
    x = torch.randn(batch, 3, 224, 224)
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
        "frugalml.profile(count_nonzero=False)": lambda: frugalml.profile(
            model, x, count_nonzero=False
        ),
        "frugalml.profile(state_dict_size=True)": lambda: frugalml.profile(
            model, x, state_dict_size=True
        ),
    }
    if train:
        variants["plain training step"] = plain_train_step
        variants["frugalml.profile(train=True)"] = lambda: frugalml.profile(model, x, train=True)
    times = timed(variants, repeats)
    medians = {n: statistics.median(t) for n, t in times.items()}
    counted = frugalml.profile(model, x)
    result: dict[str, Any] = {
        "input": list(x.shape),
        "counted": {"macs": counted.macs, "flops": counted.flops, "params": counted.params},
        "times_s": times,
        "median_s": medians,
        "ratio_to_plain_forward": {n: m / medians["plain forward"] for n, m in medians.items()},
        "ratio_profile_to_flop_counter": medians["frugalml.profile"] / medians["FlopCounterMode"],
        "ratio_profile_without_nonzero_to_flop_counter": (
            medians["frugalml.profile(count_nonzero=False)"] / medians["FlopCounterMode"]
        ),
        "target_ratio": TARGET_RATIO,
    }
    result["target_met"] = result["ratio_profile_to_flop_counter"] <= TARGET_RATIO
    result["target_met_without_nonzero"] = (
        result["ratio_profile_without_nonzero_to_flop_counter"] <= TARGET_RATIO
    )
    if train:
        result["ratio_train_profile_to_plain_step"] = (
            medians["frugalml.profile(train=True)"] / medians["plain training step"]
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per variant")
    parser.add_argument("--batch", type=int, default=1, help="batch size")
    parser.add_argument("--train", action="store_true", help="also time the training step")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated models")
    args = parser.parse_args()

    import torch
    from rich.table import Table

    from frugalml.cli._common import console as wide_console

    try:
        from frugalml.measure.hardware import machine_hardware

        machine: Any = machine_hardware()
    except Exception as e:  # the figure stands without the machine description
        machine = f"unavailable ({e})"
    names = [m for m in args.models.split(",") if m]
    results = {name: run_model(name, args.batch, args.repeats, args.train) for name in names}
    out = {
        "benchmark": "profile_overhead",
        "machine": machine,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "models": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))

    console = wide_console()
    for name, r in results.items():
        table = Table(
            title=f"Profiling cost, {name} on {'x'.join(map(str, r['input']))} "
            f"({r['counted']['macs'] / 1e9:.2f} GMACs counted, "
            f"{r['counted']['params'] / 1e6:.1f} M params); median of {args.repeats} "
            "round-robin runs after 1 warm-up"
        )
        table.add_column("variant")
        table.add_column("median", justify="right")
        table.add_column("min-max", justify="right")
        table.add_column("ratio to plain forward", justify="right")
        for variant, t in r["times_s"].items():
            table.add_row(
                variant,
                f"{r['median_s'][variant] * 1e3:.1f} ms",
                f"{min(t) * 1e3:.0f}-{max(t) * 1e3:.0f} ms",
                f"{r['ratio_to_plain_forward'][variant]:.2f}x",
            )
        console.print(table)
        for label, key, met in (
            ("frugalml.profile", "ratio_profile_to_flop_counter", "target_met"),
            (
                "frugalml.profile(count_nonzero=False)",
                "ratio_profile_without_nonzero_to_flop_counter",
                "target_met_without_nonzero",
            ),
        ):
            verdict = "met" if r[met] else "NOT MET"
            console.print(
                f"{name}: {label} / FlopCounterMode = {r[key]:.2f}x "
                f"(target <= {TARGET_RATIO}x: {verdict})"
            )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

"""What each integration adds to the job it measures, and what importing frugalml costs.

- Lightning: the same short ``trainer.fit`` (an MLP on scikit-learn's digits) without and with
  ``EnergyCallback``;
- Hugging Face: the same short ``Trainer.train`` (a one-layer ViT on the digits) without and
  with ``EnergyCallback`` (which also writes the model card's block at the end);
- scikit-learn: ``SVC().fit`` on the digits bare and wrapped in ``EnergyTracked``.

Runs are paired (bare / measured, the order swapped every pair) on identical work, each timed
end to end (``time.perf_counter``; the measured one includes the tracker's start and stop,
every epoch reading, the registry writes to a temporary SQLite file and, for the Trainer, the
model-card block); one warm-up run of each kind is not counted. The figure is the median of
the per-pair ratios measured / bare. The callbacks use their defaults (1 s sampling interval,
process scope, this machine's sensors). One torch thread, to limit the noise from other jobs
on a shared machine; the figures still move with its load (the spread is reported).

Also ``import frugalml`` and ``import frugalml.integrations`` in a fresh interpreter (median
of 5), with the frameworks it must not import.

    python benchmarks/integrations.py [--pairs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")

RESULTS = Path(__file__).parent / "results" / "integrations.json"
FRAMEWORKS = ("torch", "lightning", "transformers", "mlflow", "sklearn")
IMPORT_PROBE = (
    "import sys, time\n"
    "t = time.perf_counter()\n"
    "import frugalml, frugalml.integrations\n"
    "dt = time.perf_counter() - t\n"
    f"print(dt, sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))\n"
)


def import_time(repeats: int = 5) -> dict[str, Any]:
    times, loaded = [], []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True
        )
        dt, _, modules = out.stdout.partition(" ")
        times.append(float(dt))
        loaded = json.loads(modules.replace("'", '"'))
    return {"median_s": statistics.median(times), "runs": times, "frameworks_imported": loaded}


def paired(bare: Callable[[], None], measured: Callable[[], None], pairs: int) -> dict[str, Any]:
    """Median ratio of measured/bare wall time over ``pairs`` pairs, order swapped each pair."""

    def timed(fn: Callable[[], None]) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    timed(bare)
    timed(measured)  # warm-up of both paths (lazy imports, first registry open)
    rows = []
    for i in range(pairs):
        if i % 2 == 0:
            b, m = timed(bare), timed(measured)
        else:
            m, b = timed(measured), timed(bare)
        rows.append({"bare_s": b, "measured_s": m, "ratio": m / b, "added_s": m - b})
    ratios = [r["ratio"] for r in rows]
    bares = [r["bare_s"] for r in rows]
    return {
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(ratios),
        "max_ratio": max(ratios),
        "median_bare_s": statistics.median(bares),
        "median_added_s": statistics.median(r["added_s"] for r in rows),
        "bare_spread": (max(bares) - min(bares)) / statistics.median(bares),
        "pairs": rows,
    }


def digits() -> tuple[Any, Any]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data, d.target


def lightning_case(db: str, epochs: int) -> tuple[Callable[[], None], Callable[[], None], list]:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from frugalml.integrations.lightning import EnergyCallback

    X, y = digits()
    data = TensorDataset(torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y))

    class MLP(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
            )

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, t = batch
            loss = torch.nn.functional.cross_entropy(self.net(x), t)
            self.log("loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    runs: list = []

    def fit(callbacks: list) -> None:
        torch.manual_seed(0)
        trainer = L.Trainer(
            max_epochs=epochs,
            callbacks=callbacks,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
        )
        trainer.fit(MLP(), DataLoader(data, batch_size=32, shuffle=True))

    def measured() -> None:
        cb = EnergyCallback(db=db)
        fit([cb])
        runs.append(cb.run)

    return lambda: fit([]), measured, runs


def transformers_case(
    db: str, out: str, epochs: int
) -> tuple[Callable[[], None], Callable[[], None], list]:
    import torch
    from transformers import (
        PrinterCallback,
        Trainer,
        TrainingArguments,
        ViTConfig,
        ViTForImageClassification,
    )

    from frugalml.integrations.transformers import EnergyCallback

    X, y = digits()
    images = torch.tensor(X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    labels = torch.tensor(y)

    class Digits(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(labels)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"pixel_values": images[i], "labels": labels[i]}

    config = ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=1,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=10,
    )
    runs: list = []

    def train(callbacks: list) -> None:
        torch.manual_seed(0)
        args = TrainingArguments(
            output_dir=out,
            num_train_epochs=epochs,
            per_device_train_batch_size=64,
            learning_rate=5e-3,
            logging_strategy="epoch",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
        )
        trainer = Trainer(
            model=ViTForImageClassification(config),
            args=args,
            train_dataset=Digits(),
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)  # the same quiet output in both variants
        trainer.train()

    def measured() -> None:
        cb = EnergyCallback(db=db)
        train([cb])
        runs.append(cb.run)

    return lambda: train([]), measured, runs


def sklearn_case(db: str) -> tuple[Callable[[], None], Callable[[], None], list]:
    from sklearn.svm import SVC

    from frugalml.integrations.sklearn import EnergyTracked

    X, y = digits()

    def measured() -> None:
        EnergyTracked(SVC(), db=db, track_inference=False).fit(X, y)

    return lambda: SVC().fit(X, y), measured, []  # the wrapper keeps figures, not Run objects


def tracker_cpu(runs: list) -> dict[str, float] | None:
    """The tracker's own CPU seconds in the measured runs (what measuring cost, by the run)."""
    runs = [r for r in runs if r is not None and hasattr(r, "tracker_cpu_s")]
    if not runs:
        return None
    share = [r.tracker_cpu_s / r.duration_s for r in runs if r.duration_s > 0]
    return {
        "median_tracker_cpu_s": statistics.median(r.tracker_cpu_s for r in runs),
        "median_share_of_run": statistics.median(share) if share else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--lightning-epochs", type=int, default=8)
    parser.add_argument("--transformers-epochs", type=int, default=5)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    result: dict[str, Any] = {
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs), {platform.processor() or ''}",
        "python": platform.python_version(),
        "pairs": args.pairs,
        "torch_threads": 1,
        "import": import_time(),
    }
    print(f"import frugalml + frugalml.integrations: {result['import']['median_s'] * 1000:.0f} ms")
    with tempfile.TemporaryDirectory(prefix="frugal-bench-int-") as tmp:
        db = str(Path(tmp) / "runs.db")
        cases = {
            "lightning": lightning_case(db, args.lightning_epochs),
            "transformers": transformers_case(db, str(Path(tmp) / "hf"), args.transformers_epochs),
            "sklearn": sklearn_case(db),
        }
        for name, (bare, measured, runs) in cases.items():
            figures = paired(bare, measured, args.pairs)
            figures["tracker"] = tracker_cpu(runs)
            result[name] = figures
            print(
                f"{name}: bare {figures['median_bare_s']:.2f} s, "
                f"+{figures['median_added_s'] * 1000:.0f} ms, measured/bare median "
                f"{figures['median_ratio']:.3f} (range {figures['min_ratio']:.3f}-"
                f"{figures['max_ratio']:.3f}; bare runs alone spread "
                f"{figures['bare_spread']:.0%})"
            )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

"""The tracker's own cost (issue #17): nothing heavy on the start path, and an honest
``tracker_cpu_s``. Figures (milliseconds, CPU-s per minute) live in benchmarks/overhead.py."""

from __future__ import annotations

import json
import subprocess
import sys

from frugalml.store import Store

START_PATH = """
import sys, json
from frugalml.measure.tracker import Tracker
tracker = Tracker("light", db=sys.argv[1], handle_signals=False)
after_init = sorted(m for m in ("sqlalchemy", "torch", "pynvml", "amdsmi", "psutil") if m in sys.modules)
tracker.start()
after_start = sorted(m for m in ("sqlalchemy", "torch", "pynvml", "amdsmi") if m in sys.modules)
run = tracker.stop()
print(json.dumps([after_init, after_start, run.status]))
"""


def test_nothing_heavy_is_imported_on_the_start_path(tmp_path):
    db = str(tmp_path / "r.db")
    Store(db).close()  # an existing registry (creating one is a one-off through SQLAlchemy)
    r = subprocess.run(
        [sys.executable, "-c", START_PATH, db], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [[], [], "finished"]


SELF_REPORT = """
import json, resource, sys, time
from frugalml.measure.tracker import Tracker
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0 = cpu()
tracker = Tracker("self", db=sys.argv[1], out_dir=sys.argv[2], interval_s=0.02,
                  handle_signals=False)
run = tracker.start()
time.sleep(1.5)  # the main thread does nothing: every CPU-second here is the tracker's
run = tracker.stop()
print(json.dumps({"tracker_cpu_s": run.tracker_cpu_s, "getrusage_s": cpu() - c0}))
"""


def test_tracker_cpu_s_matches_getrusage_within_20_percent(tmp_path):
    r = subprocess.run(
        [sys.executable, "-c", SELF_REPORT, str(tmp_path / "r.db"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["getrusage_s"] > 0.05  # enough work to compare (imports, 75 samples, writes)
    assert 0.8 <= got["tracker_cpu_s"] / got["getrusage_s"] <= 1.2, got

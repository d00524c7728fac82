from __future__ import annotations

import os

import pytest

from frugalml.errors import InputError
from frugalml.measure._proc import ProcessTree, machine_memory_used_bytes
from frugalml.measure.ram_model import W_PER_GIB, RamModelSensor
from frugalml.measure.registry import create_sensor
from frugalml.testing import ConstantPowerSensor, ReplaySensor


def test_constant_power_times_time():
    t = iter([10.0, 12.5])
    s = ConstantPowerSensor(350.0, clock=lambda: next(t))
    assert s.read()["system"].energy_j == pytest.approx(875.0)
    assert s.channels()[0].method == "constant"


def test_constant_power_rejects_bad_power():
    with pytest.raises(InputError, match="power_w"):
        ConstantPowerSensor(-5)


def test_replay_of_samples_csv(tmp_path):
    p = tmp_path / "samples.csv"
    p.write_text(
        "t_s,timestamp,component,energy_j,power_w,method\n"
        "1,0,cpu,10,10,rapl\n1,0,dram,2,2,rapl\n2,0,cpu,30,30,rapl\n2,0,dram,2,2,rapl\n"
    )
    now = [0.0]
    s = ReplaySensor(p, clock=lambda: now[0])
    assert {c.component for c in s.channels()} == {"cpu", "dram"}
    now[0] = 1.5
    r = s.read()
    assert r["cpu"].energy_j == pytest.approx(25.0)  # 10 + half of 30
    now[0] = 10
    assert s.read()["cpu"].energy_j == pytest.approx(40.0)
    assert s.duration_s == 2


def test_replay_of_power_log(tmp_path):
    p = tmp_path / "meter.csv"
    p.write_text("t_s,system_w\n0,100\n2,300\n")
    now = [0.0]
    s = ReplaySensor(p, clock=lambda: now[0], speed=2.0)
    now[0] = 1.0  # 2 s of recording at speed 2
    assert s.read()["system"].energy_j == pytest.approx(400.0)


def test_replay_bad_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="t_s"):
        ReplaySensor(p)
    with pytest.raises(InputError, match="Cannot read"):
        ReplaySensor(tmp_path / "missing.csv")


def test_ram_model_uses_process_memory_not_host_total():
    s = RamModelSensor("process")
    w = s.read()["dram"].power_w
    rss = ProcessTree().rss_bytes()
    assert w == pytest.approx(W_PER_GIB * rss / 2**30, rel=0.2)
    assert w < W_PER_GIB * 4  # a test process holds well under 4 GiB
    assert machine_memory_used_bytes() > 0


def test_process_tree_counts_children(tmp_path):
    import subprocess
    import sys

    tree = ProcessTree()
    tree.cpu_s()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass",
        ]
    )
    child.wait()
    # the reaped child's CPU time arrives through children_user/children_system
    assert tree.cpu_s() >= 0.25


def test_registry_creates_by_name_and_rejects_unknown():
    assert create_sensor("constant", power_w=10).name == "constant"
    with pytest.raises(InputError, match="Did you mean 'rapl'"):
        create_sensor("rap")


def test_process_tree_of_dead_pid_is_not_alive():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    tree = ProcessTree(child.pid)
    child.wait()
    assert not tree.alive()
    assert os.getpid() != child.pid

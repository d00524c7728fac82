"""The bench: what each technique saves, measured on bundled data (``frugal bench``)."""

from frugalml.bench.harness import SUITES, BenchConfig, available_techniques, run_bench
from frugalml.bench.results import ROW_KEYS, SCHEMA, load_results
from frugalml.bench.tasks import TASKS, Task, all_tasks, get_task

__all__ = [
    "ROW_KEYS",
    "SCHEMA",
    "SUITES",
    "TASKS",
    "BenchConfig",
    "Task",
    "all_tasks",
    "available_techniques",
    "get_task",
    "load_results",
    "run_bench",
]

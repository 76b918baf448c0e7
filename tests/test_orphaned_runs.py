"""A run whose worker died with the UI that launched it (Ctrl-C of `make dev`) no longer
holds the warehouse pool for ever: the next start marks it canceled and frees its slot,
and a run whose worker is alive is left alone."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg

from polycopy_dagster.orphaned_runs import cancel_orphaned_runs, worker_pid

REPO_ROOT = Path(__file__).resolve().parents[1]

# A run worker whose one step takes the warehouse pool (limit 1 on the embedded instance),
# writes its marker once it holds the slot, then waits.
WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import dagster as dg

    @dg.op(pool="warehouse")
    def hold_the_warehouse():
        Path(sys.argv[1]).write_text("holding")
        time.sleep(600)

    @dg.job
    def holds_the_warehouse():
        hold_the_warehouse()

    with dg.DagsterInstance.get() as instance:
        holds_the_warehouse.execute_in_process(instance=instance, tags={"marker": sys.argv[1]})
""")


def _wait_for(predicate, what: str, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def _run_of(instance: dg.DagsterInstance, marker: Path) -> dg.DagsterRun | None:
    runs = instance.get_runs(dg.RunsFilter(tags={"marker": str(marker)}))
    return runs[0] if runs else None


def test_a_dead_workers_run_is_canceled_and_frees_the_warehouse_pool_for_the_next(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "embedded" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    first, second = tmp_path / "first", tmp_path / "second"
    killed = subprocess.Popen([sys.executable, str(script), str(first)], env=env)
    waiting = None
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            _wait_for(first.exists, "the first run never took the warehouse pool")
            # Only once the first holds the slot, so that the second is the one that waits.
            waiting = subprocess.Popen([sys.executable, str(script), str(second)], env=env)
            _wait_for(lambda: (r := _run_of(instance, second)) is not None
                      and r.status == dg.DagsterRunStatus.STARTED, "the second run never started")
            time.sleep(3)
            assert not second.exists(), "the pool of limit 1 let a second step in"
            dead_run, live_run = _run_of(instance, first), _run_of(instance, second)
            assert worker_pid(instance, dead_run.run_id) == killed.pid
            assert worker_pid(instance, live_run.run_id) == waiting.pid

            killed.send_signal(signal.SIGKILL)  # as the UI's stop ends its code servers' workers
            killed.wait(timeout=30)
            # Nothing else ends it: the run stays STARTED and the second keeps waiting on its slot.
            time.sleep(3)
            assert instance.get_run_by_id(dead_run.run_id).status == dg.DagsterRunStatus.STARTED
            assert not second.exists()

            assert cancel_orphaned_runs(instance) == [dead_run.run_id]
            assert instance.get_run_by_id(dead_run.run_id).status == dg.DagsterRunStatus.CANCELED
            assert instance.get_run_by_id(live_run.run_id).status == dg.DagsterRunStatus.STARTED
            # The freed slot goes to the step that was waiting for it.
            _wait_for(second.exists, "the waiting run never got the freed warehouse slot")
            assert cancel_orphaned_runs(instance) == []
    finally:
        for proc in (killed, waiting):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

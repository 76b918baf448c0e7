"""Runs a stopped UI left unfinished on its own embedded instance.

``polycopy dev`` and ``polycopy ui-demo`` launch runs in worker processes of the code
servers they start, so stopping them (Ctrl-C) ends every run they launched. Dagster's
run monitoring cannot see a dead worker of the default run launcher: such a run stays
STARTED, and the warehouse pool slot its step held (or was assigned) stays taken, so
every later warehouse step of that instance waits on it for ever. At the next start,
a run whose worker process is gone is marked canceled (the user stopped it, so the
instance's run retries leave it alone) and its slots are freed."""

import os

import dagster as dg

UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's process id: the process that reported the run's start, else (a
    worker launched but not yet started) the pid its launch's engine event names; None
    before a worker was launched. Later engine events may name step subprocesses (the
    multiprocess executor), which end before the run does, so only these two count."""
    started = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    if started and started[0].event_log_entry.dagster_event.pid:
        return started[0].event_log_entry.dagster_event.pid
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records:
        data = record.event_log_entry.dagster_event.engine_event_data
        entry = (data.metadata or {}).get("pid") if data else None
        if entry is not None and str(entry.value).isdigit():
            return int(entry.value)
    return None


def cancel_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark canceled each unfinished run whose worker process no longer exists on this
    machine, and free the concurrency slots it held; returns their run ids.

    Only for an instance whose runs are stored in SQLite (the embedded default, whose
    workers run on this machine): a shared instance's workers may live elsewhere."""
    from dagster._core.storage.runs import SqliteRunStorage

    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []
    canceled = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        pid = worker_pid(instance, run.run_id)
        if pid is None or _alive(pid):
            continue
        instance.report_run_canceled(run, f"Its worker (pid {pid}) ended with the Dagster UI that launched it; "
                                          "marked canceled when the UI started again.")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        canceled.append(run.run_id)
    return canceled

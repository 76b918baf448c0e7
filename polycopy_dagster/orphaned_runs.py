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
    """The run worker's process id as its events record it (the launch's engine event,
    then the run's start), or None before a worker was started."""
    records = instance.get_records_for_run(
        run_id, of_type={dg.DagsterEventType.ENGINE_EVENT, dg.DagsterEventType.RUN_START}).records
    pid = None
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.RUN_START and event.pid:
            pid = event.pid
        elif event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            entry = (event.engine_event_data.metadata or {}).get("pid") if event.engine_event_data else None
            if entry is not None and str(entry.value).isdigit():
                pid = int(entry.value)
    return pid


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

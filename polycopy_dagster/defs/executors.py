"""How the data location executes a run's steps, chosen by environment.

| POLYCOPY_EXECUTOR | steps run | for |
|---|---|---|
| in_process (default) | in the run's own process, one after another | the embedded DuckDB warehouse: one writer at a time, and no code load per step |
| multiprocess | in a child process each, on this machine | PostgreSQL warehouse on one machine |
| celery | on Celery workers (``dagster-celery worker start -A dagster_celery.app -y <config>``), anywhere that reaches the broker | PostgreSQL warehouse, ingestion and builds fanned out over several machines |

The Celery broker and result backend: POLYCOPY_CELERY_BROKER (default
``pyamqp://guest@127.0.0.1:5672//``, RabbitMQ) and POLYCOPY_CELERY_BACKEND (default
``rpc://``); a Redis broker is ``redis://host:6379/0``. Workers must be started with the same
broker and see the same Dagster instance (``DAGSTER_HOME``) and warehouse.
"""

import os

import dagster as dg

from polycopy.configuration import ConfigurationError

DEFAULT_BROKER = "pyamqp://guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "rpc://"


def celery_config(environ=None) -> dict:
    """The Celery executor's config (the same block a worker's ``-y`` YAML holds under
    ``execution: config:``)."""
    env = os.environ if environ is None else environ
    return {"broker": env.get("POLYCOPY_CELERY_BROKER") or DEFAULT_BROKER,
            "backend": env.get("POLYCOPY_CELERY_BACKEND") or DEFAULT_BACKEND}


def data_executor(environ=None) -> dg.ExecutorDefinition:
    """The executor of the data location's jobs; a combination that cannot work is named in
    one line."""
    env = os.environ if environ is None else environ
    kind = env.get("POLYCOPY_EXECUTOR", "in_process")
    if kind == "in_process":
        return dg.in_process_executor
    if env.get("POLYCOPY_WAREHOUSE", "duckdb") != "postgres":
        # A DuckDB file takes one writing process at a time: parallel steps would wait on its lock.
        raise ConfigurationError(f"POLYCOPY_EXECUTOR={kind} runs steps in several processes, which the embedded "
                                 "DuckDB warehouse cannot serve: set POLYCOPY_WAREHOUSE=postgres, or unset "
                                 "POLYCOPY_EXECUTOR")
    if kind == "multiprocess":
        return dg.multiprocess_executor
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_config(env), name="celery")

"""How much of the machine the embedded DuckDB warehouse may use: memory, threads, and
where it spills what does not fit.

DuckDB's own default is 80 % of physical memory and no spilling for a file opened
without a temp directory, so a large history grows a build until the machine runs out.
With a memory limit and a spill directory, joins, sorts, aggregates and window functions
spill to disk instead, and memory stays flat as history grows. The same limits go to the
warehouse writer's connections (``duckdb.connect(config=...)``) and to dbt (through the
``POLYCOPY_DUCKDB_*`` variables ``profiles.yml`` reads into its ``config_options``).

Defaults come from the machine: a fifth of physical memory (4.8 GB on a 24-GB machine:
DuckDB's allocations beyond its buffer pool and dbt's own process come on top, and the
orchestrator, the ledger and the OS page cache DuckDB reads through need the rest),
one thread per core, and a ``<warehouse file>.tmp`` directory beside the file.

dbt runs two models at a time (``profiles.yml``), but in one DuckDB process they share the
one memory limit. When the incremental models are built whole, the largest of them (the
position walk, market-days, bets placed) then spill against each other: on 38M fills those
three took 785 s side by side and 601 s one at a time. The Dagster daily asset's whole
builds (a first build, or a backfill from the first partition) and the scale benchmark's
full build therefore run dbt with ``full_build_dbt_threads`` (default 1); each query still
uses every DuckDB thread. (The backtest's as-of builds keep two: their histories are small.)

Even alone, the walk outgrows the limit on a large history: 402 s on 37.3M fills against
47 to 54 s on 9.25M, which fits, as each of its window passes spills. The rows of the
walk, market-days and bets placed depend on one wallet's fills, so a whole build makes
them in slices of wallets of about ``whole_build_slice_fills`` fills each
(``dbt_project/macros/fill_slices.sql``): by default ``SLICE_FILLS_PER_MB`` per MB of the
memory limit (10.1M fills at the 5,055 MB of a 24-GB machine), so a history that fits is
built in one statement as before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from polycopy.configuration import ConfigurationError

MEMORY_VARIABLE = "POLYCOPY_DUCKDB_MEMORY_LIMIT"
THREADS_VARIABLE = "POLYCOPY_DUCKDB_THREADS"
TEMP_DIRECTORY_VARIABLE = "POLYCOPY_DUCKDB_TEMP_DIRECTORY"
FULL_BUILD_DBT_THREADS_VARIABLE = "POLYCOPY_DUCKDB_FULL_BUILD_DBT_THREADS"
WHOLE_BUILD_SLICE_FILLS_VARIABLE = "POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS"
VARIABLES = (MEMORY_VARIABLE, THREADS_VARIABLE, TEMP_DIRECTORY_VARIABLE, FULL_BUILD_DBT_THREADS_VARIABLE,
             WHOLE_BUILD_SLICE_FILLS_VARIABLE)
DEFAULT_FULL_BUILD_DBT_THREADS = 1
# Fills a whole build sorts in one statement per MB of DuckDB's memory limit: 9.25M fills
# built within 4.8 GB without spilling.
SLICE_FILLS_PER_MB = 2000

# Share of physical memory a default limit gives DuckDB.
DEFAULT_MEMORY_FRACTION = 0.2
_MIN_DEFAULT_MB = 512
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\s*$", re.IGNORECASE)
_UNIT_MB = {"KB": 1 / 1000, "MB": 1, "GB": 1000, "TB": 1_000_000,
            "KIB": 0.001024, "MIB": 1.048576, "GIB": 1073.741824, "TIB": 1_099_511.627776}


def physical_memory_mb() -> int:
    """This machine's physical memory, in MB (10^6 bytes)."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1_000_000)


def parse_memory_mb(text: str, variable: str = MEMORY_VARIABLE) -> int:
    """``"6GB"``, ``"512MB"``, ``"4GiB"`` (or a bare number of MB) in MB; a value that is
    not a size is named in one line."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ConfigurationError(f"{variable}={text!r} is not a memory size (e.g. 6GB or 512MB)")
    mb = float(m.group(1)) * _UNIT_MB[(m.group(2) or "MB").upper()]
    if mb < 64:
        raise ConfigurationError(f"{variable}={text!r} is below DuckDB's workable minimum of 64MB")
    return int(mb)


@dataclass(frozen=True)
class DuckDBLimits:
    """``memory_limit_mb`` in MB; ``threads`` DuckDB worker threads; ``temp_directory``
    where operators spill when they exceed the memory limit; ``full_build_dbt_threads``
    how many models dbt runs at once while it builds the incremental models whole;
    ``whole_build_slice_fills`` the fills (trades) a slice of wallets of such a build holds
    (0: one slice, whatever the history)."""

    memory_limit_mb: int
    threads: int
    temp_directory: str
    full_build_dbt_threads: int = DEFAULT_FULL_BUILD_DBT_THREADS
    whole_build_slice_fills: int = 0

    def connect_config(self) -> dict[str, str | bool]:
        """The ``config`` of ``duckdb.connect`` (settings that must be set when a database
        opens: the spill directory cannot change once used). Values as dbt-duckdb passes
        them from ``profiles.yml``: DuckDB refuses a second connection in one process to the
        same file with a configuration that differs even in a value's type."""
        return {"memory_limit": f"{self.memory_limit_mb}MB", "threads": str(self.threads),
                "temp_directory": self.temp_directory,
                # Row order of inserts is never relied on (every reader orders what it needs);
                # keeping it would hold whole results in memory.
                "preserve_insertion_order": False}

    def dbt_environment(self) -> dict[str, str]:
        """The variables ``profiles.yml`` reads for the duckdb target."""
        return {MEMORY_VARIABLE: f"{self.memory_limit_mb}MB", THREADS_VARIABLE: str(self.threads),
                TEMP_DIRECTORY_VARIABLE: self.temp_directory,
                WHOLE_BUILD_SLICE_FILLS_VARIABLE: str(self.whole_build_slice_fills)}


def default_temp_directory(duckdb_path: str | Path) -> str:
    """``<warehouse file>.tmp``, beside the file (on the same disk, which has room for it)."""
    return str(Path(duckdb_path).resolve()) + ".tmp"


def duckdb_limits(duckdb_path: str | Path, memory_limit: str = "", threads: int = 0,
                  temp_directory: str = "",
                  full_build_dbt_threads: int = DEFAULT_FULL_BUILD_DBT_THREADS,
                  whole_build_slice_fills: int | None = None) -> DuckDBLimits:
    """The limits for the warehouse file ``duckdb_path``: each one given, else the
    machine's default (a fifth of physical memory; one thread per core; a ``.tmp``
    directory beside the file; one dbt model at a time in a whole build; slices of
    ``SLICE_FILLS_PER_MB`` fills per MB of the memory limit)."""
    if memory_limit:
        mb = parse_memory_mb(memory_limit)
    else:
        mb = max(_MIN_DEFAULT_MB, int(physical_memory_mb() * DEFAULT_MEMORY_FRACTION))
    if threads < 0:
        raise ConfigurationError(f"{THREADS_VARIABLE}={threads} must be a positive number of threads (0: one a core)")
    if full_build_dbt_threads < 1:
        raise ConfigurationError(f"{FULL_BUILD_DBT_THREADS_VARIABLE}={full_build_dbt_threads} must be at least 1")
    if whole_build_slice_fills is None:
        whole_build_slice_fills = mb * SLICE_FILLS_PER_MB
    elif whole_build_slice_fills < 0:
        raise ConfigurationError(f"{WHOLE_BUILD_SLICE_FILLS_VARIABLE}={whole_build_slice_fills} must be a number of "
                                 "fills (0: no slices)")
    return DuckDBLimits(memory_limit_mb=mb, threads=threads or (os.cpu_count() or 1),
                        temp_directory=temp_directory or default_temp_directory(duckdb_path),
                        full_build_dbt_threads=full_build_dbt_threads, whole_build_slice_fills=whole_build_slice_fills)


def duckdb_limits_from_env(duckdb_path: str | Path, environ=None) -> DuckDBLimits:
    """:func:`duckdb_limits` from the ``POLYCOPY_DUCKDB_*`` variables of ``environ``
    (default: this process's environment)."""
    env = os.environ if environ is None else environ
    return duckdb_limits(duckdb_path, memory_limit=env.get(MEMORY_VARIABLE, ""),
                         threads=_count(env, THREADS_VARIABLE, 0),
                         temp_directory=env.get(TEMP_DIRECTORY_VARIABLE, ""),
                         full_build_dbt_threads=_count(env, FULL_BUILD_DBT_THREADS_VARIABLE,
                                                       DEFAULT_FULL_BUILD_DBT_THREADS),
                         whole_build_slice_fills=_count(env, WHOLE_BUILD_SLICE_FILLS_VARIABLE, None, "fills"))


def _count(env, variable: str, default: int | None, of: str = "threads") -> int | None:
    """The whole number (of ``of``) ``variable`` of ``env`` gives (``default`` when unset);
    anything else is named in one line."""
    raw = (env.get(variable) or "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigurationError(f"{variable}={raw!r} is not a number of {of}")
    return int(raw)

"""Configuration checked when it loads: each problem named in one line, up front.

Plain Python (no Dagster): the code locations, the CLI and the demo call it.
"""

import dataclasses
import difflib
import re
import socket
from collections.abc import Iterable, Mapping

WALLET_RE = re.compile(r"^0x[0-9a-f]{40}$")

# Every POLYCOPY_* variable the project reads, besides POLYCOPY_<FIELD> of the rule settings.
KNOWN_VARIABLES = frozenset({
    "POLYCOPY_VENUE", "POLYCOPY_SIM_URL", "POLYCOPY_HISTORY_START", "POLYCOPY_WAREHOUSE", "POLYCOPY_LEDGER",
    "POLYCOPY_DATA_DIR", "POLYCOPY_DUCKDB_PATH", "POLYCOPY_LEDGER_PATH",
    "POLYCOPY_DUCKDB_MEMORY_LIMIT", "POLYCOPY_DUCKDB_THREADS", "POLYCOPY_DUCKDB_TEMP_DIRECTORY",
    "POLYCOPY_DUCKDB_FULL_BUILD_DBT_THREADS", "POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS",
    "POLYCOPY_EXECUTOR", "POLYCOPY_CELERY_BROKER", "POLYCOPY_CELERY_BACKEND",
    "POLYCOPY_SPARK_MASTER", "POLYCOPY_SPARK_SCHEMA", "POLYCOPY_SPARK_WAREHOUSE_DIR", "POLYCOPY_SPARK_DRIVER_MEMORY",
    "POLYCOPY_SPARK_SHUFFLE_PARTITIONS", "POLYCOPY_SPARK_FILE_FORMAT",
    "POLYCOPY_PG_HOST", "POLYCOPY_PG_PORT", "POLYCOPY_PG_USER", "POLYCOPY_PG_PASSWORD", "POLYCOPY_PG_DATABASE",
    "POLYCOPY_DAGSTER_PG_DATABASE", "POLYCOPY_FOLLOW_WALLETS", "POLYCOPY_ROUTES", "POLYCOPY_KILL_SWITCH",
    "POLYCOPY_LOOKBACK_S", "POLYCOPY_OVERLAP_S", "POLYCOPY_LONG_POLL_S", "POLYCOPY_POLL_INTERVAL_S",
    "POLYCOPY_RATE_LIMIT_SCALE", "POLYCOPY_AUTOMATION", "POLYCOPY_AUTOMATION_RECENT_DAYS",
    "POLYCOPY_AUTOMATION_INTERVAL_S", "POLYCOPY_EXIT_CHECK_INTERVAL_S",
    "POLYCOPY_TEST_PG_DSN",  # the test suite's PostgreSQL
})
CHOICES = {
    "POLYCOPY_VENUE": ("sim", "polymarket"),
    "POLYCOPY_WAREHOUSE": ("duckdb", "postgres"),
    "POLYCOPY_LEDGER": ("sqlite", "postgres"),
    "POLYCOPY_ROUTES": ("v2", "v1"),
    "POLYCOPY_MODE": ("paper", "approval", "live"),
    "POLYCOPY_EXECUTOR": ("in_process", "multiprocess", "celery"),
}


class ConfigurationError(ValueError):
    """A setting that cannot work, said in one line (the variable, the value, what to do)."""


def parse_wallets(raw: str, variable: str = "POLYCOPY_FOLLOW_WALLETS") -> tuple[list[str], list[str]]:
    """The wallet addresses of a comma-separated list (lower-cased, de-duplicated, in order),
    and the entries that are not addresses (0x + 40 hex digits), as given."""
    good, bad = [], []
    for part in (raw or "").split(","):
        entry = part.strip()
        if not entry:
            continue
        w = entry.lower()
        if WALLET_RE.match(w):
            if w not in good:
                good.append(w)
        else:
            bad.append(entry)
    return good, bad


def wallet_warnings(raw: str, variable: str = "POLYCOPY_FOLLOW_WALLETS") -> list[str]:
    """One line per entry of ``raw`` that is not a wallet address."""
    good, bad = parse_wallets(raw)
    rest = (f"{len(good)} other wallet{'s' if len(good) != 1 else ''} still followed" if good
            else "no address is left, so the published watchlist is followed")
    return [f"{variable}: {b!r} is not a wallet address (0x followed by 40 hex digits); ignored, {rest}" for b in bad]


def setting_variables(*settings_classes) -> set[str]:
    """POLYCOPY_<FIELD> for every field of the given settings dataclasses."""
    return {f"POLYCOPY_{f.name.upper()}" for cls in settings_classes for f in dataclasses.fields(cls)}


def unknown_variable_warnings(environ: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """One line per POLYCOPY_* variable nothing reads (a typo, or a setting that was renamed),
    with the closest known name."""
    known = set(known)
    out = []
    for name in sorted(k for k in environ if k.startswith("POLYCOPY_") and k not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        out.append(f"{name} is not a polycopy setting; ignored" + (f" (did you mean {close[0]}?)" if close else ""))
    return out


def choice_errors(environ: Mapping[str, str]) -> list[str]:
    """One line per variable whose value is not one of its choices."""
    return [f"{name}={environ[name]!r} is not one of {', '.join(choices)}"
            for name, choices in CHOICES.items() if environ.get(name) and environ[name] not in choices]


def check_reachable(host: str, port: int, what: str, timeout_s: float = 2.0) -> None:
    """Raise ConfigurationError in one line unless a TCP connection to ``host:port`` opens
    within ``timeout_s`` seconds (checked once, before any connection pool or retry)."""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return
    except OSError as e:
        cause = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e)).lower()
        raise ConfigurationError(
            f"{what} at {host}:{port} is not reachable ({cause}): start the server, or set POLYCOPY_PG_HOST / "
            "POLYCOPY_PG_PORT to where it listens (or use the embedded default: unset POLYCOPY_WAREHOUSE and "
            "POLYCOPY_LEDGER)") from None

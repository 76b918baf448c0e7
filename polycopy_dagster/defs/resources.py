"""Resources: where the APIs, the warehouse and the ledger are, chosen by environment.

| variable | default | meaning |
|---|---|---|
| POLYCOPY_VENUE | sim | ``sim`` (the simulated venue on localhost) or ``polymarket`` (real APIs) |
| POLYCOPY_SIM_URL | http://127.0.0.1:8765 | where the simulated venue listens |
| POLYCOPY_WAREHOUSE | duckdb | ``duckdb`` or ``postgres`` |
| POLYCOPY_LEDGER | sqlite | ``sqlite`` or ``postgres`` |
| POLYCOPY_DATA_DIR | <repo>/.data | DuckDB and SQLite files |
| POLYCOPY_PG_HOST/PORT/USER/PASSWORD/DATABASE | 127.0.0.1/5432/postgres/-/polycopy | PostgreSQL |
| POLYCOPY_FOLLOW_WALLETS | (empty) | comma-separated wallets to copy; overrides the published whale watchlist |
| POLYCOPY_KILL_SWITCH | (empty) | any value but 0/false/off stops every order (see also `polycopy risk kill-switch`) |
| POLYCOPY_LOOKBACK_S, POLYCOPY_OVERLAP_S | 300, 30 | follow sensor: first-start lookback and re-read overlap (s) |
| POLYCOPY_LONG_POLL_S, POLYCOPY_POLL_INTERVAL_S | 4, 0.5 | follow sensor: long-poll window per evaluation and pause between polls (s) |
| POLYCOPY_<FIELD> of CopyTradingResource | see its fields | e.g. POLYCOPY_AGGREGATION_WINDOW_S (1), POLYCOPY_UNDECIDED_ALERT_S (300), POLYCOPY_RELAUNCH_BACKOFF_S (5); of LedgerResource: POLYCOPY_DB_RETRY_GIVE_UP_S (30) |
| POLYCOPY_RATE_LIMIT_SCALE | 1.0 | fraction of Polymarket's published rate limits the clients use |
| POLYCOPY_ROUTES | v2 | ``v2``: the official SDK's keyset routes, v1 where a host lacks them; ``v1``: offset routes only |
| POLYCOPY_<THRESHOLD> | the documents' | any field of the signal, sizing or risk rules, e.g. POLYCOPY_MAX_TRADE_AGE_S |
"""


import logging
import os
from contextlib import contextmanager
from pathlib import Path

from typing import Literal, Optional

import dagster as dg
from pydantic import Field, model_validator

from polycopy.configuration import (KNOWN_VARIABLES, ConfigurationError, check_reachable, choice_errors,
                                    parse_wallets, setting_variables, unknown_variable_warnings, wallet_warnings)
from polycopy.db import DbRetry
from polycopy.execution.copier import TradingRules
from polycopy.ledger.store import Ledger, LedgerSettings, open_ledger
from polycopy.polymarket.clients import (REAL_CLOB_URL, REAL_DATA_API_URL, REAL_GAMMA_URL, Endpoints,
                                         PolymarketClients)
from polycopy.polymarket.http import RetryPolicy
from polycopy.scoring.settings import ScoringSettings, WatchlistSettings  # plain dataclasses: no heavy imports
from polycopy.trading.settings import ExitSettings, RiskSettings, SignalSettings, SizingSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SIM_URL = "http://127.0.0.1:8765"


def data_dir() -> Path:
    return Path(os.environ.get("POLYCOPY_DATA_DIR", REPO_ROOT / ".data")).resolve()


log = logging.getLogger("polycopy.configuration")
_warned: set[str] = set()  # each warning once per process (both locations share this module)


def _pg_dsn(host: str, port: int, user: str, password: str, database: str) -> str:
    # Connect timeout and keepalives are added where connections are made (polycopy.db.pg_connect).
    from psycopg2.extensions import make_dsn  # quotes a password with spaces or quotes

    return make_dsn(host=host, port=port, user=user, dbname=database, **({"password": password} if password else {}))


class PolymarketResource(dg.ConfigurableResource):
    """Polymarket Data API, Gamma and CLOB endpoints (real or simulated), with the
    client's timeouts, retries and rate limits."""

    data_api_url: str = Field(description="Data API base URL")
    gamma_url: str = Field(description="Gamma API base URL")
    clob_url: str = Field(description="CLOB base URL")
    timeout_s: float = Field(default=10.0, description="Connect/read timeout per request, seconds")
    max_retries: int = Field(default=6, description="Retries of a failed request (429, 5xx, timeouts)")
    backoff_base_s: float = Field(default=0.2, description="First retry delay, seconds (doubles each retry)")
    backoff_max_s: float = Field(default=10.0, description="Largest retry delay, seconds")
    rate_limit_scale: float = Field(default=1.0, description="Fraction of the published rate limits to use")
    page_size: int = Field(default=1000, description="Records per page (/v2 routes take at most 1000, v1 "
                                                     "/trades 10000)")
    offset_cap: int = Field(default=3000, description="Deepest /trades offset the API serves; deeper walks "
                                                      "continue on the /v2 keyset feed")
    routes: Literal["v2", "v1"] = Field(
        default="v2", description="v2: the official SDK's keyset routes (/v2/trades, /v2/activity, "
                                  "/markets/keyset), v1 only where a host lacks them; v1: the offset routes")

    def sdk_environment(self):
        """The official SDK's environment for these hosts: Polymarket's own, or one host
        serving every API (the simulated venue, its JSON-RPC at ``/rpc``)."""
        from polycopy.polymarket.sdk import sdk_environment, single_host_environment

        urls = (self.data_api_url, self.gamma_url, self.clob_url)
        if urls == (REAL_DATA_API_URL, REAL_GAMMA_URL, REAL_CLOB_URL):
            return sdk_environment()
        if len(set(urls)) == 1:
            return single_host_environment(self.clob_url)
        return sdk_environment(clob_url=self.clob_url, data_url=self.data_api_url, gamma_url=self.gamma_url)

    @contextmanager
    def clients(self):
        clients = PolymarketClients.connect(
            Endpoints(self.data_api_url, self.gamma_url, self.clob_url),
            timeout_s=self.timeout_s,
            retry=RetryPolicy(self.max_retries, self.backoff_base_s, self.backoff_max_s),
            rate_limit_scale=self.rate_limit_scale,
            page_size=self.page_size,
            offset_cap=self.offset_cap,
            routes=self.routes,
        )
        try:
            yield clients
        finally:
            clients.close()


class _PostgresConnection(dg.ConfigurableResource):
    """PostgreSQL connection settings shared by the warehouse and the ledger."""

    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_database: str = "polycopy"

    def pg_dsn(self) -> str:
        return _pg_dsn(self.pg_host, self.pg_port, self.pg_user, self.pg_password, self.pg_database)


class WarehouseResource(_PostgresConnection):
    """The analytical warehouse: embedded DuckDB file or PostgreSQL."""

    backend: str = Field(default="duckdb", description="duckdb or postgres")
    duckdb_path: str = Field(default="", description="DuckDB file (default: <data dir>/warehouse.duckdb)")
    duckdb_memory_limit: str = Field(
        default="", description="DuckDB's memory limit, e.g. 6GB; beyond it builds spill to disk "
                                "(default: a fifth of physical memory)")
    duckdb_threads: int = Field(default=0, description="DuckDB worker threads (default 0: one per core)")
    duckdb_temp_directory: str = Field(
        default="", description="Where DuckDB spills (default: <warehouse file>.tmp beside the file)")
    duckdb_full_build_dbt_threads: int = Field(
        default=1, description="Models dbt runs at once while it builds the incremental models whole (a first "
                               "build, or a backfill from the first partition): one, as the largest share DuckDB's "
                               "memory limit and spill against each other")
    duckdb_whole_build_slice_fills: Optional[int] = Field(
        default=None, description="Fills (trades) per slice of wallets when the models that sort every fill (the "
                                  "position walk, market-days, bets placed) are built whole, so that each slice "
                                  "sorts within the memory limit (default: 2,000 per MB of the memory "
                                  "limit; 0: one slice)")

    def settings(self):
        from polycopy.warehouse import WarehouseSettings  # pandas: kept out of the light execution location
        from polycopy.warehouse.duckdb_limits import duckdb_limits

        path = self.duckdb_path or str(data_dir() / "warehouse.duckdb")
        return WarehouseSettings(
            backend=self.backend,
            duckdb_path=path,
            pg_dsn=self.pg_dsn(),
            duckdb_limits=duckdb_limits(path, self.duckdb_memory_limit, self.duckdb_threads,
                                        self.duckdb_temp_directory, self.duckdb_full_build_dbt_threads,
                                        self.duckdb_whole_build_slice_fills),
        )

    def open(self):
        """The warehouse (``polycopy.warehouse.Warehouse``) with its raw schema in place."""
        from polycopy.warehouse import open_warehouse

        return open_warehouse(self.settings())


class LedgerResource(_PostgresConnection):
    """The trading ledger: SQLite in WAL mode or PostgreSQL; safe for concurrent runs."""

    backend: str = Field(default="sqlite", description="sqlite or postgres")
    sqlite_path: str = Field(default="", description="SQLite file (default: <data dir>/ledger.sqlite)")
    db_retry_initial_s: float = Field(default=0.2, description="First wait before retrying a transaction that lost "
                                                            "its connection, s (doubles each attempt, with jitter)")
    db_retry_max_wait_s: float = Field(default=5.0, description="Longest wait between those retries, s")
    db_retry_give_up_s: float = Field(default=30.0, description="Stop retrying this long after the first failure and "
                                                             "raise the cause (the run fails; the sweeper relaunches "
                                                             "its signals), s")

    def open(self) -> Ledger:
        return open_ledger(LedgerSettings(
            backend=self.backend,
            sqlite_path=self.sqlite_path or str(data_dir() / "ledger.sqlite"),
            pg_dsn=self.pg_dsn(),
            retry=DbRetry(self.db_retry_initial_s, self.db_retry_max_wait_s, self.db_retry_give_up_s),
        ))


class CopyTradingResource(dg.ConfigurableResource):
    """How copies are executed and how the follow sensor polls (the decision rules are the
    signal_rules, sizing_rules and risk_rules resources)."""

    mode: str = Field(
        default="paper", description="paper (default): fills against the venue's books, nothing sent; approval: "
                                     "each order is a proposal a person approves before it goes live; live: orders "
                                     "go to the CLOB (credentials from POLYCOPY_LIVE_*)")
    proposal_expiry_s: float = Field(default=120.0, description="Approval mode: a proposed order not approved "
                                                                "within this long expires, s")
    approve_exits: bool = Field(default=False, description="Approval mode: exits too wait for a person (by default "
                                                           "they go out at once: they only reduce risk)")
    live_min_collateral_usd: float = Field(default=1.0, description="Live trading starts only with at least this "
                                                                    "much pUSD in the wallet, USD")
    follow_wallets: str = Field(default="", description="Comma-separated wallets to follow instead of the "
                                                        "watchlist (an explicit override of stage 1)")
    taker_fee_rate: float = Field(default=0.05, description="Taker fee rate: fee = shares × rate × p × (1 − p)")
    reconcile_after_s: float = Field(default=60.0, description="Pending orders older than this are reconciled, s")
    lookback_s: float = Field(default=300.0, description="On first start, how far back the sensor looks, s")
    overlap_s: float = Field(default=30.0, description="Re-read window behind the sensor cursor, s")
    long_poll_s: float = Field(default=4.0, description="How long one sensor evaluation keeps polling for new "
                                                        "trades before returning, s (0: poll once)")
    poll_interval_s: float = Field(default=0.5, description="Pause between feed polls within an evaluation, s")
    aggregation_window_s: float = Field(default=1.0, description="Fills of one wallet on one token and side within "
                                                                 "this many seconds of the order's first fill (or in "
                                                                 "its transaction) are one signal, s")
    max_signals_per_run: int = Field(default=500, description="Most signals one copy_trade run carries")
    order_deadline_s: float = Field(default=300.0, description="A copy decision whose order could not be sent "
                                                               "within this many seconds is closed as expired, s")
    relaunch_backoff_s: float = Field(default=5.0, description="First wait before relaunching a failed copy run's "
                                                            "signals, s (doubles each attempt)")
    relaunch_backoff_max_s: float = Field(default=30.0, description="Longest wait between relaunches, s")
    launch_grace_s: float = Field(default=30.0, description="A launch whose run does not exist after this long was "
                                                            "lost and is relaunched, s")
    run_stuck_after_s: float = Field(default=60.0, description="A copy run still in flight this long after its "
                                                                "launch is presumed dead; its undecided signals are "
                                                                "relaunched (decisions stay exactly-once), s")
    run_max_runtime_s: float = Field(default=90.0, description="Dagster's run monitoring ends a copy run after "
                                                               "this long (a worker that died), s")
    undecided_alert_s: float = Field(default=300.0, description="A signal undecided this long after it was seen "
                                                                "fails no_undecided_trades and is logged, s")

    def wallets(self) -> list[str]:
        """The valid wallet addresses of the follow list (entries that are not are named at load)."""
        return parse_wallets(self.follow_wallets)[0]

    @model_validator(mode="after")
    def _proposals_expire_before_their_deadline(self):
        # A proposal approved after its decision's order deadline could never be sent.
        if isinstance(self.proposal_expiry_s, (int, float)) and isinstance(self.order_deadline_s, (int, float)) \
                and self.proposal_expiry_s > self.order_deadline_s:
            raise ValueError(f"proposal_expiry_s ({self.proposal_expiry_s:g} s) must not exceed order_deadline_s "
                             f"({self.order_deadline_s:g} s): a proposal approved later could not be sent")
        return self


def _env_or(name: str, default: str):
    """EnvVar when set (read at run time, never baked into config), else a default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _env_int_or(name: str, default: int):
    return dg.EnvVar.int(name) if os.environ.get(name) else default


def _api_urls() -> dict:
    venue = os.environ.get("POLYCOPY_VENUE", "sim")
    if venue == "sim":
        url = os.environ.get("POLYCOPY_SIM_URL", DEFAULT_SIM_URL)
        return dict(data_api_url=url, gamma_url=url, clob_url=url)
    if venue == "polymarket":
        return dict(data_api_url=REAL_DATA_API_URL, gamma_url=REAL_GAMMA_URL, clob_url=REAL_CLOB_URL)
    raise ValueError(f"POLYCOPY_VENUE must be 'sim' or 'polymarket', got {venue!r}")


def _pg_fields() -> dict:
    return dict(
        pg_host=_env_or("POLYCOPY_PG_HOST", "127.0.0.1"),
        pg_port=_env_int_or("POLYCOPY_PG_PORT", 5432),
        pg_user=_env_or("POLYCOPY_PG_USER", "postgres"),
        pg_password=_env_or("POLYCOPY_PG_PASSWORD", ""),
        pg_database=_env_or("POLYCOPY_PG_DATABASE", "polycopy"),
    )


class WalletActivityResource(dg.ConfigurableResource):
    """Which wallets' activity (splits, merges, redeems, conversions, rewards, and their
    trades in any market) ingestion reads: every followed wallet and the candidates."""

    max_candidates: int = Field(default=200, description="Candidates read: the last scoring run's best by the "
                                                         "lower bound of their score (or, before any scoring, the "
                                                         "most active wallets)")
    min_trades: int = Field(default=50, description="Before any scoring run, a candidate needs this many fills "
                                                    "(scoring's low_trade_count)")
    follow_wallets: str = Field(default="", description="Comma-separated followed wallets (as the copy sensor's "
                                                        "POLYCOPY_FOLLOW_WALLETS); the published watchlist is "
                                                        "followed as well")

    def followed(self) -> list[str]:
        return parse_wallets(self.follow_wallets)[0]


def polymarket_resource() -> PolymarketResource:
    return PolymarketResource(**_api_urls(),
                              rate_limit_scale=float(os.environ.get("POLYCOPY_RATE_LIMIT_SCALE", "1.0")),
                              routes=os.environ.get("POLYCOPY_ROUTES", "v2"))


def _settings_resource(name: str, settings_cls, doc: str):
    """A ConfigurableResource with one field per threshold of ``settings_cls`` (same name,
    same documented default), whose ``settings()`` returns the plain settings object —
    every threshold is visible and overridable in the Dagster UI and in run config."""
    import dataclasses

    kinds = {"float": float, "int": int, "bool": bool, "str": str}
    fields = dataclasses.fields(settings_cls)
    namespace = {
        "__annotations__": {f.name: kinds[str(f.type)] for f in fields},
        "__doc__": doc,
        **{f.name: Field(default=f.default) for f in fields},
        "settings": lambda self: settings_cls(**{f.name: getattr(self, f.name) for f in fields}),
    }
    return type(name, (dg.ConfigurableResource,), namespace)


ScoringResource = _settings_resource(
    "ScoringResource", ScoringSettings,
    "Wallet-scoring thresholds (seeds 000/001/002 defaults): WQS points, penalties, shrinkage and "
    "bootstrap, the behaviour detectors (market making, wash trading, new wallets and insiders, luck, "
    "specialization), red flags, tiers. wqs_preset: edge (default), documents or custom.")
WatchlistResource = _settings_resource(
    "WatchlistResource", WatchlistSettings,
    "Watchlist rules: stage-1 gate (relative by default, or the documents' absolute), quarantine and release, "
    "rotation with cooldown, behaviour alerts.")
SignalRulesResource = _settings_resource(
    "SignalRulesResource", SignalSettings,
    "Signal stages 2-3 (seed 002 defaults): whale trade size, slippage, time to resolution, edge after fees, "
    "liquidity and spread; correlation, total and category exposure.")
SizingRulesResource = _settings_resource(
    "SizingRulesResource", SizingSettings,
    "Position sizing (seeds 000/002/003 defaults): blended-probability Kelly and its adjustments, half-Kelly, "
    "the 8 % cap, the documents' multipliers and the hard caps.")
RiskRulesResource = _settings_resource(
    "RiskRulesResource", RiskSettings,
    "Portfolio risk (seeds 001/002/003 defaults): starting capital, circuit breakers, drawdown halt, "
    "Cornish-Fisher mVaR bands.")

ExitRulesResource = _settings_resource(
    "ExitRulesResource", ExitSettings,
    "Exit rules (seeds 001/002/004 defaults), each can be switched off: mirror the source wallet's exit in "
    "proportion, stop-loss 15 %, take-profit 30 %, a 2.5 × ATR(14) trailing stop for winners, a time exit 24 h "
    "before the market's end, an exit when the source wallet is quarantined or excluded; the exit's limit "
    "tolerance below the best bid.")


def env_overrides(resource_cls, skip: tuple[str, ...] = ()) -> dict:
    """The fields of ``resource_cls`` that ``POLYCOPY_<FIELD>`` environment variables set,
    parsed to the field's type; a value that does not parse is named in one line."""
    kw = {}
    for name, field in resource_cls.model_fields.items():
        if name in skip:
            continue
        var = f"POLYCOPY_{name.upper()}"
        raw = os.environ.get(var)
        if raw is None or raw == "":
            continue
        kind = field.annotation
        try:
            kw[name] = raw.strip().lower() in ("1", "true", "yes", "on") if kind is bool else kind(raw)
        except ValueError:
            raise ConfigurationError(f"{var}={raw!r} is not a {kind.__name__}") from None
    return kw


def settings_from_env(resource_cls):
    """A settings resource whose fields are overridden by ``POLYCOPY_<FIELD>`` environment
    variables where set (e.g. POLYCOPY_MAX_TRADE_AGE_S=600, POLYCOPY_STARTING_CAPITAL_USD=5000)."""
    kw = env_overrides(resource_cls)
    try:
        resource = resource_cls(**kw)
        resource.settings()  # the settings' own validation runs now, not at the first run
        return resource
    except ValueError as e:  # the settings' own validation (e.g. a weight beside a named preset)
        raise ConfigurationError(f"{resource_cls.__name__}: {str(e).splitlines()[0]}") from None


def trading_rules(copy_trading: CopyTradingResource, signal_rules, sizing_rules, risk_rules,
                  exit_rules=None) -> TradingRules:
    """The plain rules object the decision chain follows, from the resources (exit rules
    not given take the documents' defaults)."""
    return TradingRules(signals=signal_rules.settings(), sizing=sizing_rules.settings(), risk=risk_rules.settings(),
                        exits=(exit_rules or ExitRulesResource()).settings(), fee_rate=copy_trading.taker_fee_rate,
                        reconcile_after_s=copy_trading.reconcile_after_s)


def env_trading_rules() -> TradingRules:
    """The trading rules the POLYCOPY_* environment sets (each unset one at its default)."""
    return trading_rules(copy_trading_resource(), settings_from_env(SignalRulesResource),
                         settings_from_env(SizingRulesResource), settings_from_env(RiskRulesResource),
                         settings_from_env(ExitRulesResource))


def ledger_resource() -> "LedgerResource":
    return LedgerResource(backend=os.environ.get("POLYCOPY_LEDGER", "sqlite"),
                          sqlite_path=os.environ.get("POLYCOPY_LEDGER_PATH", ""), **_pg_fields(),
                          **{k: v for k, v in env_overrides(LedgerResource).items() if k.startswith("db_retry_")})


def known_variables() -> set[str]:
    """Every POLYCOPY_* variable something reads."""
    from polycopy.execution.live_credentials import LIVE_VARIABLES

    return (set(KNOWN_VARIABLES) | set(LIVE_VARIABLES) | setting_variables(ScoringSettings, WatchlistSettings, SignalSettings,
                                                    SizingSettings, RiskSettings, ExitSettings)
            | {f"POLYCOPY_{name.upper()}" for name in CopyTradingResource.model_fields}
            | {f"POLYCOPY_{name.upper()}" for name in LedgerResource.model_fields if name.startswith("db_retry_")})


def check_environment(*, warehouse: bool, ledger: bool) -> None:
    """Check the environment once, when a code location (or the CLI) loads: a value that cannot
    work raises ConfigurationError in one line (a choice that does not exist, an unreachable
    PostgreSQL); a typo'd variable and a follow-list entry that is not a wallet are warned
    about in one line each, and the rest still runs."""
    env = os.environ
    errors = choice_errors(env)
    if errors:
        raise ConfigurationError("; ".join(errors))
    if env.get("POLYCOPY_MODE", "paper") != "paper":  # live orders: the credentials must be complete now
        from polycopy.execution.live_credentials import LiveCredentials

        LiveCredentials.from_env(env)
    for line in unknown_variable_warnings(env, known_variables()) + wallet_warnings(
            env.get("POLYCOPY_FOLLOW_WALLETS", "")):
        if line not in _warned:
            _warned.add(line)
            log.warning(line)
    uses_pg = [what for what, on in (("warehouse", warehouse and env.get("POLYCOPY_WAREHOUSE") == "postgres"),
                                     ("ledger", ledger and env.get("POLYCOPY_LEDGER") == "postgres")) if on]
    if uses_pg:
        port = env.get("POLYCOPY_PG_PORT") or "5432"
        if not port.isdigit():
            raise ConfigurationError(f"POLYCOPY_PG_PORT={port!r} is not a port number")
        check_reachable(env.get("POLYCOPY_PG_HOST") or "127.0.0.1", int(port),
                        f"PostgreSQL (the {' and '.join(uses_pg)})")


def warehouse_resource() -> WarehouseResource:
    """The warehouse settings from the environment; a DuckDB limit that is not a size or a
    number is named in one line."""
    from polycopy.warehouse.duckdb_limits import duckdb_limits_from_env

    path = os.environ.get("POLYCOPY_DUCKDB_PATH", "")
    duckdb_limits_from_env(path or "warehouse.duckdb")  # validates the POLYCOPY_DUCKDB_* values now
    return WarehouseResource(backend=os.environ.get("POLYCOPY_WAREHOUSE", "duckdb"), duckdb_path=path,
                             duckdb_memory_limit=_env_or("POLYCOPY_DUCKDB_MEMORY_LIMIT", ""),
                             duckdb_threads=_env_int_or("POLYCOPY_DUCKDB_THREADS", 0),
                             duckdb_temp_directory=_env_or("POLYCOPY_DUCKDB_TEMP_DIRECTORY", ""),
                             duckdb_full_build_dbt_threads=_env_int_or("POLYCOPY_DUCKDB_FULL_BUILD_DBT_THREADS", 1),
                             duckdb_whole_build_slice_fills=_env_int_or("POLYCOPY_DUCKDB_WHOLE_BUILD_SLICE_FILLS", None),
                             **_pg_fields())


def build_data_resources() -> dict:
    """Resources of the data location: APIs, warehouse, dbt."""
    check_environment(warehouse=True, ledger=True)
    # Imported here: the execution location shares this module and must not load dbt.
    from polycopy_dagster.defs.dbt_cli import dbt_resource  # noqa: PLC0415
    return {
        "polymarket": polymarket_resource(),
        "warehouse": warehouse_resource(),
        "dbt": dbt_resource(),
        "ledger": ledger_resource(),
        "scoring": settings_from_env(ScoringResource),
        "watchlist_rules": settings_from_env(WatchlistResource),
        "wallet_activity": WalletActivityResource(follow_wallets=_env_or("POLYCOPY_FOLLOW_WALLETS", "")),
    }


def copy_trading_resource() -> CopyTradingResource:
    """The copy-trading settings from the environment; a combination that cannot work is
    named in one line."""
    from pydantic import ValidationError

    try:
        return CopyTradingResource(follow_wallets=_env_or("POLYCOPY_FOLLOW_WALLETS", ""),
                                   **env_overrides(CopyTradingResource, skip=("follow_wallets",)))
    except ValidationError as e:
        raise ConfigurationError("; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())) from None


def build_execution_resources() -> dict:
    """Resources of the execution location: APIs, ledger, copy-trading settings."""
    check_environment(warehouse=False, ledger=True)
    return {
        "polymarket": polymarket_resource(),
        "ledger": ledger_resource(),
        "copy_trading": copy_trading_resource(),
        "signal_rules": settings_from_env(SignalRulesResource),
        "sizing_rules": settings_from_env(SizingRulesResource),
        "risk_rules": settings_from_env(RiskRulesResource),
        "exit_rules": settings_from_env(ExitRulesResource),
    }


def build_resources() -> dict:
    """Every resource (for in-process use, e.g. the demo)."""
    return {**build_data_resources(), **build_execution_resources()}


def initialized(resource: dg.ConfigurableResource) -> dg.ConfigurableResource:
    """The resource as a run sees it, for use outside a run (the CLI, the demo): its
    ``EnvVar`` fields (e.g. POLYCOPY_PG_PASSWORD) read from the environment now."""
    return resource.process_config_and_initialize()

"""``polycopy dev`` and ``polycopy ui-demo``: the Dagster UI (``dagster dev``, both code
locations) beside a simulated venue, both stopped together on Ctrl-C or SIGTERM."""

import os
import signal
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from polycopy_dagster.demo import (BIN, REPO_ROOT, WORKSPACE, DemoWorld, child_env, demo_environment,
                                   ensure_embedded_instance)


def _start_venue(world, port: int, speed: float, clock_ts: int | None = None):
    from polycopy.sim.server import SimVenue, VenueServer

    venue = SimVenue(world, speed=speed)
    if clock_ts:
        venue.clock.set(clock_ts)
    try:
        return VenueServer(venue, port=port).start()
    except OSError as e:
        raise SystemExit(f"cannot serve the simulated venue on 127.0.0.1:{port} ({e.strerror or e}): is an earlier "
                         "`make dev` still running? Stop it, or choose another port with SIM_PORT=...") from None


def serve_ui(env: dict[str, str], port: int, venue_server=None) -> int:
    """Run ``dagster dev`` on ``port`` with ``env`` until it exits or this process is told to
    stop; then stop it and the venue. Returns dagster dev's exit code (0 when we stopped it)."""
    from dagster import DagsterInstance

    from polycopy_dagster.orphaned_runs import cancel_orphaned_runs

    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        for run_id in cancel_orphaned_runs(instance):
            print(f"run {run_id} was left unfinished when the UI last stopped: marked canceled, its slots freed",
                  flush=True)
    cmd = [str(BIN / "dagster"), "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)]
    # dagster dev stops on SIGINT; it must answer it even when this process was started with
    # SIGINT ignored (as a background job of a shell is), which its children would inherit.
    proc = subprocess.Popen(cmd, env=child_env(env), cwd=REPO_ROOT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        print("stopping the Dagster UI and the simulated venue", flush=True)
        # To dagster dev alone: it stops its daemon and webserver, then its code servers. Signalling
        # the whole group would take the code servers away under a running sensor tick, which
        # then records a failed tick ("location does not exist") and holds the daemon up.
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
            except ProcessLookupError:
                pass
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if venue_server is not None:
            venue_server.stop()


def ui_demo(args) -> int:
    """Open the demo's own instance: both code locations, the demo's data dir, and its venue
    served again where the demo left its clock."""
    from polycopy.sim.world import generate_world

    data = Path(args.data_dir).resolve()
    spec = DemoWorld.load(data)
    print(f"serving the demo's simulated venue again (seed {spec.seed}) on 127.0.0.1:{args.sim_port}", flush=True)
    server = _start_venue(generate_world(spec.sim_config()), args.sim_port, speed=0.0, clock_ts=spec.clock_end_ts)
    env = demo_environment(data, spec, server.url)
    print(f"Dagster UI of the demo on http://127.0.0.1:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']}, "
          f"POLYCOPY_DATA_DIR={data}); Ctrl-C stops both", flush=True)
    return serve_ui(env, args.port, server)


def dev(args) -> int:
    """The UI with sensors live: a simulated venue whose clock runs ``speed`` times real time
    (unless POLYCOPY_VENUE=polymarket), and dagster dev on the instance in DAGSTER_HOME."""
    env = {"DAGSTER_HOME": str(ensure_embedded_instance(
        Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / ".dagster_home").resolve()))}
    server = None
    if os.environ.get("POLYCOPY_VENUE", "sim") == "sim":
        from polycopy.sim.world import SimConfig, generate_world

        end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        cfg = SimConfig(seed=args.seed, n_markets=args.markets, n_wallets=args.wallets, n_trades=args.trades,
                        history_days=args.history_days, history_end=end)
        server = _start_venue(generate_world(cfg), args.sim_port, speed=args.speed)
        env["POLYCOPY_SIM_URL"] = server.url
        # Partitions start where the simulated history does, unless the user chose otherwise.
        env.setdefault("POLYCOPY_HISTORY_START", os.environ.get("POLYCOPY_HISTORY_START") or
                       (end - timedelta(days=args.history_days)).date().isoformat())
        print(f"simulated venue on {server.url} (clock {args.speed:g}× real time, history from "
              f"{env['POLYCOPY_HISTORY_START']})", flush=True)
    from polycopy_dagster.defs.automation import automation_on

    state = "on" if automation_on() else "off (POLYCOPY_AUTOMATION=on turns every schedule and sensor on)"
    print(f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']}); automation {state}; "
          "Ctrl-C stops everything", flush=True)
    return serve_ui(env, args.port, server)


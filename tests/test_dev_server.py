"""`make dev` (`polycopy dev`): the UI on the chosen port beside a simulated venue on its own
port; Ctrl-C stops both and frees both ports, and no instance-configuration warning shows."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from polycopy.sim.server import free_port
from tests.test_ui_browser import port_is_free

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _default_sigint():
    # As in a terminal, whatever this test runner inherited (a runner started as a background
    # job of a non-interactive shell ignores SIGINT, and so would every child it starts).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# Ctrl-C in a terminal; and SIGTERM to `make dev` run as a shell's background job, which starts
# with SIGINT ignored (dagster dev, which stops on SIGINT, must not inherit that).
@pytest.mark.parametrize("stop, preexec", [(signal.SIGINT, _default_sigint), (signal.SIGTERM, _ignore_sigint)],
                         ids=["ctrl-c", "sigterm-in-background"])
def test_dev_serves_on_the_chosen_ports_and_ctrl_c_stops_both(tmp_path, stop, preexec):
    port, sim_port = free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("POLYCOPY_")},
           "DAGSTER_HOME": str(tmp_path / "home")}
    log = tmp_path / "dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "polycopy"), "dev", "--port", str(port), "--sim-port", str(sim_port),
                                 "--markets", "20", "--wallets", "30", "--trades", "500", "--history-days", "2"],
                                env=env, cwd=REPO_ROOT, stdout=out, stderr=out, preexec_fn=preexec)
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
            # The simulated venue answers on its port, with its clock moving.
            clock = httpx.get(f"http://127.0.0.1:{sim_port}/_sim/clock", timeout=5).json()
            assert clock["speed"] == 60.0
        finally:
            stopping = time.monotonic()
            proc.send_signal(stop)
            proc.wait(timeout=90)
            stopped_in_s = time.monotonic() - stopping
    assert port_is_free(port) and port_is_free(sim_port)
    # dagster dev shuts its daemon and webserver down in order, without waiting out a timeout.
    assert stopped_in_s < 30, stopped_in_s
    text = log.read_text()
    assert "Found a dagster instance configuration value" not in text
    assert f"Dagster UI on http://127.0.0.1:{port}" in text and "automation off" in text

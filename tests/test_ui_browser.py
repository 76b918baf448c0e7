"""The demo opened as a user opens it: `polycopy demo`, then `polycopy ui-demo` (what
`make ui-demo` runs), read in a real browser (Debian's Chromium driven by playwright) and
through the webserver's GraphQL. Screenshots are kept under .data/browser/."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import httpx
import pytest

from polycopy.sim.server import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / ".data" / "browser"
# The flags this machine's closed network needs (no background connections, no QUIC).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    data = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCOPY_")}
    proc = subprocess.run([str(BIN / "polycopy"), "demo", "--data-dir", str(data), "--markets", "150",
                           "--wallets", "400", "--trades", "20000", "--history-days", "45", "--live-hours", "3",
                           "--also-follow", "12"], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=1200)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "demo.out").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The demo ends with its summary, the copied positions and their exits included, and says how to open it.
    assert "copied positions open / closed" in proc.stdout and "exits by rule" in proc.stdout
    assert "make ui-demo" in proc.stdout
    return data


@pytest.fixture(scope="module")
def ui(demo_dir):
    port, sim_port = free_port(), free_port()
    log = open(demo_dir / "ui-demo.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCOPY_")}
    proc = subprocess.Popen([str(BIN / "polycopy"), "ui-demo", "--data-dir", str(demo_dir), "--port", str(port),
                             "--sim-port", str(sim_port)], env=env, cwd=REPO_ROOT, stdout=log, stderr=log,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{base}/server_info", timeout=2).status_code == 200 and _locations_loaded(base):
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (demo_dir / "ui-demo.log").read_text()[-3000:]
        time.sleep(1)
    yield {"base": base, "sim_port": sim_port}
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=90)
    log.close()
    # Stopping the UI stops its simulated venue too: the port is free again.
    assert port_is_free(sim_port)


def gql(base: str, query: str, variables: dict | None = None) -> dict:
    r = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    r.raise_for_status()
    body = r.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def _locations_loaded(base: str) -> bool:
    data = gql(base, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                     "locationOrLoadError { __typename } } } } }")
    entries = data["workspaceOrError"]["locationEntries"]
    return {e["name"] for e in entries} == {"polycopy", "polycopy_execution"} and all(
        e["loadStatus"] == "LOADED" and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        for e in entries)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.goto(url, wait_until="networkidle")
    skip = page.get_by_role("button", name="Skip")  # the webserver's first-visit community prompt
    if skip.count():
        skip.first.click()
    return page


def test_global_lineage_runs_from_raw_trades_to_copy_orders(ui):
    nodes = gql(ui["base"], "{ assetNodes { assetKey { path } dependencyKeys { path } } }")["assetNodes"]
    children = {}
    for n in nodes:
        for d in n["dependencyKeys"]:
            children.setdefault("/".join(d["path"]), set()).add("/".join(n["assetKey"]["path"]))
    # Breadth-first from raw_trades through both code locations.
    seen, queue, parent = {"raw_trades"}, deque(["raw_trades"]), {}
    while queue:
        k = queue.popleft()
        for c in children.get(k, ()):
            if c not in seen:
                seen.add(c)
                parent[c] = k
                queue.append(c)
    assert "copy_orders" in seen
    path, k = ["copy_orders"], "copy_orders"
    while k != "raw_trades":
        k = parent[k]
        path.append(k)
    path = path[::-1]
    # The path crosses the data plane's scores and watchlist into the execution plane.
    for step in ("marts/wallet_metrics", "wallet_scores", "whale_watchlist", "followed_watchlist"):
        assert any(p == step for p in seen), step
    assert "followed_watchlist" in path, path
    assert {"followed_watchlist", "portfolio_risk"} <= {k for k, cs in children.items() if "eligible_signals" in cs}
    # The evaluation hangs off the marts it measures.
    assert "scoring_evaluation" in children.get("marts/wallet_metrics", set())


@pytest.mark.parametrize("asset, texts", [
    ("wallet_scores", ["top_candidates", "wallet_address", "excluded", "reasons", "red_flags"]),
    ("whale_watchlist", ["watchlist", "gate_removed_in_order", "too few trades to judge", "tier_max_exposure"]),
    ("eligible_signals", ["decisions", "stage", "pass_through_rate", "rejected_by_stage"]),
    ("portfolio_risk", ["breakers", "consecutive_losses", "tripped", "nav_usd"]),
])
def test_asset_pages_render_their_tables(ui, browser, asset, texts):
    page = open_page(browser, f"{ui['base']}/assets/{asset}")
    try:
        for text in texts:
            page.get_by_text(text, exact=False).first.wait_for(timeout=30_000)
        # A metadata table, not a JSON blob: its schema can be opened.
        assert page.get_by_text("Show schema").count() >= 1
        page.screenshot(path=str(ARTIFACTS / f"asset_{asset}.png"), full_page=True)
    finally:
        page.close()


def test_ingestion_checks_are_evaluated(ui, browser):
    data = gql(ui["base"], """{ assetNodes(assetKeys: [{path: ["raw_trades"]}]) { assetChecksOrError {
        ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }""")
    checks = data["assetNodes"][0]["assetChecksOrError"]["checks"]
    assert {c["name"] for c in checks} >= {"raw_trades_unique_keys", "raw_trades_required_fields",
                                          "raw_trades_price_range", "raw_trades_reject_rate"}
    assert all(c["executionForLatestMaterialization"]["status"] == "SUCCEEDED" for c in checks), checks
    page = open_page(browser, f"{ui['base']}/assets/raw_trades?view=checks")
    page.get_by_text("raw_trades_unique_keys").first.wait_for(timeout=30_000)
    assert page.get_by_text("Not evaluated").count() == 0
    page.screenshot(path=str(ARTIFACTS / "raw_trades_checks.png"), full_page=True)
    page.close()


def test_the_follow_sensor_has_ticks(ui, browser):
    data = gql(ui["base"], """{ sensorOrError(sensorSelector: {repositoryName: "__repository__",
        repositoryLocationName: "polycopy_execution", sensorName: "followed_wallets_sensor"}) {
        ... on Sensor { sensorState { status launched: ticks(limit: 5, statuses: [SUCCESS]) { status }
        failed: ticks(limit: 5, statuses: [FAILURE]) { status error { message } } } } } }""")
    # The sensor keeps ticking (skipped: nothing new) after the demo; some ticks launched copies.
    state = data["sensorOrError"]["sensorState"]
    assert state["launched"], "no tick launched a copy run"
    # The one failure allowed: a tick while the UI's daemon starts, before its code location has loaded.
    assert all("does not exist in workspace" in (t["error"] or {}).get("message", "") for t in state["failed"]), \
        state["failed"]
    runs = gql(ui["base"], """{ runsOrError(filter: {pipelineName: "copy_trade"}) { ... on Runs {
        results { status } } } }""")["runsOrError"]["results"]
    assert runs and all(r["status"] == "SUCCESS" for r in runs), runs
    page = open_page(browser, f"{ui['base']}/locations/polycopy_execution/sensors/followed_wallets_sensor")
    page.get_by_text("followed_wallets_sensor").first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "sensor.png"), full_page=True)
    page.close()


def test_materialize_wallet_scores_from_the_ui(ui, browser):
    def runs():
        return gql(ui["base"], """{ runsOrError(filter: {pipelineName: "__ASSET_JOB"}) { ... on Runs {
            results { runId status assetSelection { path } } } } }""")["runsOrError"]["results"]

    before = {r["runId"] for r in runs()}
    page = open_page(browser, f"{ui['base']}/assets/wallet_scores")
    page.locator("button", has_text="Materialize").first.click()
    deadline = time.monotonic() + 300
    while True:
        new = [r for r in runs() if r["runId"] not in before]
        if new and new[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        assert time.monotonic() < deadline, new
        time.sleep(2)
    assert new[0]["status"] == "SUCCESS" and [["wallet_scores"]] == [a["path"] for a in new[0]["assetSelection"]]
    page.goto(f"{ui['base']}/runs/{new[0]['runId']}", wait_until="networkidle")
    page.screenshot(path=str(ARTIFACTS / "materialize_wallet_scores_run.png"), full_page=True)
    page.close()


LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
    ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""


def run_status(base: str, run_id: str) -> str:
    return gql(base, """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }""",
               {"id": run_id})["runOrError"]["status"]


def run_errors(base: str, run_id: str) -> list[str]:
    """The run's ERROR-level events, each with its error's message: what a failed run says in the UI."""
    events = gql(base, """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
        ... on MessageEvent { level message stepKey }
        ... on ErrorEvent { error { message } } } } } }""", {"id": run_id})["logsForRun"]["events"]
    return [f"{e.get('stepKey') or ''}: {e['message']} {(e.get('error') or {}).get('message', '')}".strip()
            for e in events if e.get("level") == "ERROR"]


def test_every_job_of_the_demo_runs_again_from_the_ui(ui, demo_dir):
    """Every asset materializes on the demo's instance as the UI launches it (a code server
    loads the locations with the demo's data dir): every job, launched together."""
    from polycopy_dagster.demo import DemoWorld

    day = DemoWorld.load(demo_dir).anchor[:10]
    jobs = [("polycopy", "refresh_markets", {}, {}), ("polycopy", "ingest_history", {"dagster/partition": day}, {}),
            ("polycopy", "audit_rejects", {}, {}), ("polycopy", "build_dbt_daily", {"dagster/partition": day}, {}),
            ("polycopy", "build_dbt_marts", {}, {}), ("polycopy", "score_wallets", {}, {}),
            ("polycopy", "evaluate_scoring", {}, {"ops": {"scoring_evaluation": {"config": {
                "seeds": [11], "n_wallets": 300, "n_markets": 100, "n_trades": 10_000}}}}),
            ("polycopy_execution", "risk_monitor", {}, {}), ("polycopy_execution", "reconcile_orders", {}, {})]
    launched_runs = {}
    # Launched together, as a user clicking through the jobs would; the warehouse pool orders them.
    for location, job, tags, config in jobs:
        params = {"selector": {"repositoryLocationName": location, "repositoryName": "__repository__",
                               "jobName": job},
                  "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
                  "runConfigData": config}
        launched = gql(ui["base"], LAUNCH, {"p": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", (job, launched)
        launched_runs[job] = launched["run"]["runId"]
    deadline = time.monotonic() + 600
    while True:
        status = {job: run_status(ui["base"], run_id) for job, run_id in launched_runs.items()}
        if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in status.values()):
            break
        assert time.monotonic() < deadline, status
        time.sleep(2)
    failed = {job: run_errors(ui["base"], launched_runs[job]) for job, s in status.items() if s != "SUCCESS"}
    assert not failed, failed

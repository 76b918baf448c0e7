"""The dbt manifest that Dagster's definitions are built from, when several processes
(test workers, a code server, the daemon) load the definitions at the same moment."""

import json
import os
import shutil
import subprocess
import sys
import time

from polycopy.dbt_project import DBT_PROJECT_DIR

# Loads the definitions' manifest helper the way each process does, on a given copy of
# the project, and prints what it read.
_LOAD = """
import json, sys
from pathlib import Path
from dagster_dbt import DbtProject
from polycopy_dagster.defs.dbt_cli import ensure_manifest
project = DbtProject(project_dir=sys.argv[1], profiles_dir=sys.argv[1], target="duckdb",
                     target_path=Path("target") / "duckdb")
manifest = json.loads(ensure_manifest(project).read_bytes())
print(json.dumps({"invocation": manifest["metadata"]["invocation_id"], "nodes": len(manifest["nodes"])}))
"""


def test_processes_starting_together_parse_a_changed_project_once_and_each_reads_a_whole_manifest(tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))

    procs = [subprocess.Popen([sys.executable, "-c", _LOAD, str(project)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    read = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    # One parse: every process read the manifest of the same dbt invocation, whole.
    assert len({r["invocation"] for r in read}) == 1
    assert all(r["nodes"] > 100 for r in read)
    # Nothing of the parse is left beside the manifest.
    assert sorted(p.name for p in (project / "target").iterdir() if not p.name.startswith(".duckdb.parse.lock")) \
        == ["duckdb"]

    # A model that changes makes the next load parse again, once.
    model = next((project / "models").rglob("*.sql"))
    model.write_text(model.read_text() + "\n")
    again = subprocess.run([sys.executable, "-c", _LOAD, str(project)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["invocation"] != read[0]["invocation"]


# Runs N dbt commands as the dbt assets do (seeded from parse_seed_dir, their partial
# parse kept after), under the connection settings in the environment, and prints whether
# each had to parse the whole project again.
_COMMANDS = """
import json, os, sys
from pathlib import Path
from dagster_dbt import DbtProject
from polycopy_dagster.defs.dbt_cli import dbt_resource, keep_partial_parse, parse_seed_dir, partial_parse_dir
project = DbtProject(project_dir=sys.argv[1], profiles_dir=sys.argv[1], target="duckdb",
                     target_path=Path("target") / "duckdb")
reparsed = []
for n in range(int(sys.argv[3])):
    seed = parse_seed_dir(project)
    target = Path(sys.argv[2]) / f"command-{n}"
    target.mkdir(parents=True)
    (target / "partial_parse.msgpack").write_bytes((seed / "partial_parse.msgpack").read_bytes())
    dbt_resource(project).cli(["ls", "--select", "int_id_keys"], target_path=target).wait()
    reparsed.append("Unable to do partial parsing" in (target / "dbt.log").read_text())
    keep_partial_parse(target, project)
print(json.dumps({"reparsed": reparsed, "kept": str(partial_parse_dir(project))}))
"""


def test_dbt_commands_keep_a_partial_parse_per_connection_settings(tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POLYCOPY_DUCKDB", "DBT_"))}
    # The parse made when the definitions load, before the warehouse resource sets the
    # connection settings.
    subprocess.run([sys.executable, "-c", _LOAD, str(project)], env=base, check=True, capture_output=True,
                   timeout=300)
    unused = project / "target" / "duckdb" / "parse-unused"
    unused.mkdir()
    (unused / "partial_parse.msgpack").write_bytes(b"")
    week_ago = time.time() - 8 * 86_400
    os.utime(unused / "partial_parse.msgpack", (week_ago, week_ago))

    def commands(name: str, memory: str, n: int) -> dict:
        env = {**base, "POLYCOPY_DUCKDB_PATH": str(tmp_path / "wh.duckdb"), "POLYCOPY_DUCKDB_MEMORY_LIMIT": memory}
        proc = subprocess.run([sys.executable, "-c", _COMMANDS, str(project), str(tmp_path / name), str(n)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    # Under the run's settings the load-time parse is thrown away once; the next command
    # starts from the one the first kept.
    first = commands("a", "1GB", 2)
    assert first["reparsed"] == [True, False]
    # Other settings (another memory limit) keep their own, and leave the first's.
    other = commands("b", "2GB", 1)
    assert other["reparsed"] == [True] and other["kept"] != first["kept"]
    assert commands("c", "1GB", 1)["reparsed"] == [False]
    # A partial parse unused for a week is dropped.
    assert not unused.exists()

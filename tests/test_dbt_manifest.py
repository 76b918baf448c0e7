"""The dbt manifest that Dagster's definitions are built from, when several processes
(test workers, a code server, the daemon) load the definitions at the same moment."""

import json
import shutil
import subprocess
import sys

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

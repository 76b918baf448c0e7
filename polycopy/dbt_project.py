"""Where the dbt project lives, and a plain dbt invocation for code outside Dagster
(benchmarks, the scoring evaluation)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def dbt_executable() -> str:
    """dbt from PATH, else the one installed beside this interpreter (an unactivated venv)."""
    return shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")


def run_dbt(args: list[str], env: dict[str, str], target_path: str | Path) -> None:
    """Run ``dbt <args>`` on this project with extra environment ``env``; raise with dbt's
    own output when it fails. ``target_path`` keeps the run's artifacts apart."""
    proc = subprocess.run(
        [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target_path), "--log-path", str(Path(target_path) / "logs")],
        env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args[:1])} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")


def dbt_vars(**values) -> list[str]:
    return ["--vars", json.dumps(values)]

"""A command run in a child process and measured: wall time, CPU time and peak memory.

Each command runs under a small wrapper process, so that the peak RSS and the CPU time
reported are the command's own (and its children's), not the benchmark's. CPU time
(user + system, every thread) compares two versions on a machine whose speed varies
from one run to the next better than wall time does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print('MEASURED ' + json.dumps({'peak_kb': u.ru_maxrss, 'cpu_s': u.ru_utime + u.ru_stime}))\n"
    "sys.exit(r.returncode)\n"
)


@dataclass(frozen=True)
class Measured:
    """wall_s and cpu_s in seconds (cpu_s: user + system over every thread), peak_mb in MB."""

    wall_s: float
    cpu_s: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: list[str], env: dict | None = None) -> Measured:
    """Run ``cmd`` (with ``env`` added to this process's environment) and measure it."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], env={**os.environ, **(env or {})},
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    line = next(line for line in reversed(proc.stdout.splitlines()) if line.startswith("MEASURED "))
    usage = json.loads(line.removeprefix("MEASURED "))
    return Measured(wall_s=wall, cpu_s=usage["cpu_s"], peak_mb=usage["peak_kb"] / 1024,
                    returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

"""A private PostgreSQL server for tests that stop and restart it (a database outage),
without touching the shared server on port 5432: initdb in a temporary directory, trust
authentication on 127.0.0.1, a free port. As root, the server runs as the ``postgres``
system user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from polycopy.sim.server import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt install postgresql)")
    return found


class PrivateCluster:
    def __init__(self):
        # Its own directory under /tmp: a test's tmp_path sits under a root-only directory.
        self.root = Path(tempfile.mkdtemp(prefix="polycopy-pg-"))
        self.dir = self.root / "pgdata"
        self.sockets = self.root / "pgsock"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def init(self) -> "PrivateCluster":
        for d in (self.dir, self.sockets):
            d.mkdir(parents=True, exist_ok=True)
            if self.as_postgres:
                shutil.chown(d, "postgres", "postgres")
        os.chmod(self.root, 0o755)  # the postgres user must reach its directories
        self._run(_bin("initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with open(self.dir / "postgresql.conf", "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = "
                    f"'{self.sockets}'\nfsync = off\nmax_connections = 200\n")
        return self

    def start(self, timeout_s: float = 60) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.dir), "-l", str(self.dir / "server.log"), "-w",
                  "-t", str(int(timeout_s)), "start")

    def stop(self) -> None:
        """Stop now, dropping every connection (``-m fast``), as a crash or restart would."""
        self._run(_bin("pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop", check=False)

    def create_database(self, name: str) -> str:
        import psycopg2

        con = psycopg2.connect(self.dsn, connect_timeout=5)
        con.autocommit = True
        con.cursor().execute(f"create database {name}")
        con.close()
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={name}"

    def __enter__(self) -> "PrivateCluster":
        self.init()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_until(predicate, timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()

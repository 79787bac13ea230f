"""A sweep shared through a real PostgreSQL server, as several machines share one.

The server is Debian's `postgresql` package, started in a temporary data directory and
listening on 127.0.0.1 only, for this test alone (as the `postgres` user when the tests run as
root, since the server refuses to run as root). Two `genvid sweep` commands, each with its own
sweep directory as two machines would have, start at the same moment on the empty database
(the schema is created once, by whichever comes first); one is killed in the middle of a
trial; the other finishes its share; the killed one's command, run again, marks its trial
failed and finishes the study with exactly the trials asked for.

Skipped, with the reason printed, when the server's binaries are not installed (`.ci/run`
installs them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from genvid.sweep import sweep_report
from genvid.sweep.storage import STUDY, open_storage

TRIALS = 3
SWEEP = ["sweep", "pixelcnn-mnist", "--trials", str(TRIALS), "--rungs", "1"]
SWEEP += ["--param", "lr=loguniform:1e-3:1e-1", "--budget-steps", "50", "--batch-size", "8"]
SWEEP += ["--set", "hidden_channels=4", "--set", "num_layers=1", "--set", "output_channels=4"]
SWEEP += ["--valid-limit", "16"]


def server_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/VERSION/bin holding initdb and pg_ctl (Debian's layout),
    else the directory of an initdb on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for directory in reversed(found):
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def skip(reason: str) -> None:
    print(f"\nskipped: {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1, for this test; its URL."""
    binaries = server_binaries()
    if binaries is None:
        skip("no PostgreSQL server binaries (apt-get install postgresql)")
    driver = sqlalchemy.engine.make_url("postgresql://x/y").get_dialect().driver
    pytest.importorskip(driver, reason=f"no {driver}: pip install 'genvid[postgres]'")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:  # the server will not run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            skip("running as root and there is no 'postgres' user to run the server as")
        runuser = shutil.which("runuser")
        as_user = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-c"]
    home = Path(tempfile.mkdtemp(prefix="genvid-postgres-"))  # /tmp: the server user reaches it
    data = home / "data"
    if owner is not None:
        os.chown(home, owner.pw_uid, owner.pw_gid)
    with socket.socket() as probe:  # a free port on the loopback interface
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def as_server(*command: object) -> list[str]:
        words = [str(word) for word in command]
        return [*as_user, " ".join(words)] if as_user[:1] == ["su"] else [*as_user, *words]

    def run(*command: object) -> None:
        subprocess.run(as_server(*command), check=True, capture_output=True, timeout=120)

    options = f"-h 127.0.0.1 -p {port} -k {home} -c fsync=off -c full_page_writes=off"
    pg_ctl = binaries / "pg_ctl"
    try:
        run(binaries / "initdb", "-D", data, "-U", "genvid", "--auth=trust", "--no-sync")
        run(pg_ctl, "-D", data, "-l", home / "server.log", "-o", options, "-w", "start")
        print(f"\nPostgreSQL from {binaries} on 127.0.0.1:{port}, data in {data}")
        yield f"postgresql://genvid@127.0.0.1:{port}/postgres"
    finally:
        if data.exists():
            stop = as_server(pg_ctl, "-D", data, "-m", "immediate", "stop")
            subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def test_two_machines_share_one_sweep_through_postgresql(postgres_url, tmp_path):
    started = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    machines = {name: tmp_path / name for name in ("one", "two")}

    def command(name: str) -> list[str]:
        return [sys.executable, "-m", "genvid.cli", *SWEEP, "--storage", postgres_url, "--out"] + [
            str(machines[name])
        ]

    one, two = (
        subprocess.Popen(command(name), env=env, stderr=subprocess.PIPE, text=True)
        for name in machines
    )
    deadline = time.time() + 120
    while not list(machines["one"].glob("trials/*/config.json")):  # training its trial
        assert one.poll() is None and time.time() < deadline, one.stderr.read()
        time.sleep(0.05)
    one.send_signal(signal.SIGKILL)  # machine one dies in the middle of its trial
    one.wait()
    _, err = two.communicate(timeout=300)
    assert two.returncode == 0, err[-2000:]
    print(f"machine two finished its share after {time.time() - started:.1f} s")

    again = subprocess.run(command("one"), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    print("machine one, run again:\n" + again.stdout)

    study = optuna.load_study(study_name=STUDY, storage=open_storage(postgres_url))
    states = [t.state.name for t in study.trials]
    print(f"trials: {states}; {time.time() - started:.1f} s in all")
    assert sum(state in ("COMPLETE", "PRUNED") for state in states) == TRIALS
    assert "RUNNING" not in states and "FAIL" in states  # the killed trial, never counted
    killed = [t for t in study.trials if t.state.name == "FAIL" and not t.user_attrs.get("surplus")]
    assert all(str(machines["one"]) in t.user_attrs["run_dir"] for t in killed)
    runs = {Path(t.user_attrs["run_dir"]).parent.parent.name for t in study.trials if t.params}
    assert runs == {"one", "two"}  # both machines ran trials
    lines, _ = sweep_report(machines["two"], storage=postgres_url)
    assert lines[0].startswith("trials: ")

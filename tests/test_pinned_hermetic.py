"""The suite is hermetic: genvid's caches resolve inside the session's own home (conftest.py),
in this process and in the processes tests start, never in the user's ~/.cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from genvid import frechet
from genvid.data.pacman import default_root


def test_caches_resolve_inside_the_sessions_home(hermetic_home):
    cache = hermetic_home / ".cache" / "genvid"
    assert Path.home() == hermetic_home
    assert frechet.feature_cache_dir() == cache / "i3d-features"
    assert default_root() == cache / "pacman"
    seen = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pathlib import Path; from genvid import frechet; "
            "print(Path.home()); print(frechet.feature_cache_dir())",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert seen == [str(hermetic_home), str(cache / "i3d-features")]
    assert os.environ["XDG_CACHE_HOME"] == str(hermetic_home / ".cache")

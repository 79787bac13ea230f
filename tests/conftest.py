"""Settings every test shares: a home and a cache of the session's own.

genvid keeps caches under `$XDG_CACHE_HOME/genvid` (or `~/.cache/genvid`): I3D features of real
clips, the rendered Ms. Pac-Man set. A test must neither read what an earlier run left there (a
stale feature file would hide a broken I3D) nor write into the user's home, so the whole
session runs with HOME and XDG_CACHE_HOME pointing at an empty temporary folder. They are set
in `os.environ`, so the subprocesses tests start (`python -m genvid ...`) inherit them.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def hermetic_home(tmp_path_factory):
    """An empty HOME and XDG_CACHE_HOME for the whole session (undone at its end)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        yield home

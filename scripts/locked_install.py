"""Install every pinned package of a lock file into a virtual environment with uv; called by ``make setup``.

    python scripts/locked_install.py requirements-lock.txt

pip needs over a minute on a 2-core machine for the lock's 190 pinned packages, most of it reading package indexes
one package at a time; uv reads them in parallel and installs the same versions in about 20 seconds. The lock
already names every package and version (it is ``pip freeze`` of a passing environment), so nothing is resolved:
``--no-deps``. uv does not read pip's configuration, so the package indexes and find-links folders pip is
configured with (its config files and ``PIP_*`` variables, as ``pip config list`` shows them) are passed on, and
uv looks there before PyPI. Exits non-zero when uv is missing or fails; ``make setup`` then installs with pip.
Runs with the target environment's own Python, before the kit is installed: it imports nothing of the kit.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

FLAGS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links"}


def pip_sources(python: str) -> list[str]:
    """Return uv's arguments for the indexes and find-links locations of pip's configuration, each once."""
    listing = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    arguments: list[str] = []
    for line in listing.splitlines():  # e.g. global.extra-index-url='file:///opt/pypi/simple file:///x/simple'
        key, _, value = line.partition("=")
        flag = FLAGS.get(key.rsplit(".", 1)[-1])
        for location in value.strip().strip("'\"").split() if flag else []:
            if location not in arguments:
                arguments += [flag, location]
    return arguments


def main(argv: list[str]) -> int:
    """Install the lock file ``argv[0]`` into the environment of this Python with uv; return the exit status."""
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python scripts/locked_install.py <lock file>", file=sys.stderr)
        return 2
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        print("uv is not installed in this environment", file=sys.stderr)
        return 1
    # unsafe-first-match: a package found on a configured index but not at the pinned version is looked up on the
    # next one; every version is pinned, so no index can substitute another version
    command = [uv, "pip", "install", "--quiet", "--python", sys.executable, "--no-deps", "--no-cache",
               "--index-strategy", "unsafe-first-match", "-r", argv[0], *pip_sources(sys.executable)]
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

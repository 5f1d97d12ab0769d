"""The install (setup.py, run by ./run.sh and ./test.sh) writes the bytecode of the tree's modules, so that a
daemon start does not compile them again where PYTHONDONTWRITEBYTECODE is set."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "matchengine", "marketprice", "readhistory", "accesshttp", "accessws", "alertcenter", "deploy")


def test_every_module_installed_has_its_bytecode() -> None:
    installed_at = (ROOT / "common" / "_native_stamp.py").stat().st_mtime  # written by every install
    sources = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
               if path.stat().st_mtime <= installed_at]  # a module edited or added since is compiled at import
    assert len(sources) > 100
    missing = [str(path.relative_to(ROOT)) for path in sources
               if not Path(importlib.util.cache_from_source(str(path))).exists()]
    assert not missing

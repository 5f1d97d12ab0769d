"""Never run a compiled module that no longer matches its source.

setup.py compiles the matching core with mypyc and records the hash of each
source it compiled (`common._native_stamp`).  An editable checkout keeps the
compiled files beside the sources, so an edit after the last `pip install`
would otherwise run the old code.  `guard()` runs before any compiled module
is imported (from `common/__init__.py`): if any compiled module's source has
changed, or a compiled file is there that the stamp does not list, or
VIABTC_PURE_PYTHON=1 is set, every compiled module is imported from its
source instead, all of them together, since compiled modules call each other
directly and must not be mixed with source copies of one another.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "matchengine")
PURE_ENV = "VIABTC_PURE_PYTHON"


class SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the listed modules as their `.py` files, ahead of any compiled copy."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def compiled_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name → its `.py` source, for every module that has a compiled file beside it."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        directory = root / package
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            for compiled in directory.glob(f"*{suffix}"):
                stem = compiled.name[: -len(suffix)]
                source = directory / f"{stem}.py"
                if source.exists():
                    found[f"{package}.{stem}"] = source
    return found


def stale_modules(compiled: dict[str, Path], stamp: dict[str, str]) -> list[str]:
    """Compiled modules whose source differs from what was compiled, or that the stamp does not know."""
    stale = []
    for name, source in sorted(compiled.items()):
        digest = stamp.get(name)
        if digest is None or hashlib.sha256(source.read_bytes()).hexdigest() != digest:
            stale.append(name)
    return stale


def read_stamp() -> dict[str, str]:
    try:
        from common._native_stamp import SOURCE_SHA256
    except ImportError:
        return {}
    return dict(SOURCE_SHA256)


def guard() -> SourceFinder | None:
    """Route every compiled module to its source when any is stale or pure Python is asked for."""
    compiled = compiled_files()
    if not compiled:
        return None
    if os.environ.get(PURE_ENV) != "1":
        stale = stale_modules(compiled, read_stamp())
        if not stale:
            return None
        warnings.warn(f"compiled modules do not match their sources ({', '.join(stale)}): running every compiled "
                      "module from source; `pip install -e .` compiles them again", RuntimeWarning, stacklevel=2)
    finder = SourceFinder(compiled)
    sys.meta_path.insert(0, finder)
    return finder


def is_compiled(module: ModuleType) -> bool:
    return not (module.__file__ or "").endswith(".py")


def main() -> int:
    """Exit status 1 when compiled modules are stale (run.sh then reinstalls)."""
    compiled = compiled_files()
    stamp = read_stamp()
    stale = stale_modules(compiled, stamp)
    missing = sorted(set(stamp) - set(compiled))
    if stale or missing:
        print(f"stale: {', '.join(stale + missing)}")
        return 1
    print(f"compiled: {', '.join(sorted(compiled))}" if compiled else "pure python")
    return 0

"""The compiled core: in use after an install, and never run when stale."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import common.native as native
from common.native import SourceFinder, compiled_files, stale_modules

ROOT = Path(__file__).resolve().parents[2]
CORE = ("common.decimals", "matchengine.market", "matchengine.balance", "matchengine.commands")


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                          env={**os.environ, **env}, check=True)


def test_the_installed_core_is_compiled() -> None:
    """setup.py compiles the core; a build that silently lost it would run 2x slower."""
    if os.environ.get(native.PURE_ENV) == "1":
        return
    probe = run_python("import importlib, common.native as n; "
                       f"print(all(n.is_compiled(importlib.import_module(m)) for m in {CORE!r}))")
    assert probe.stdout.strip() == "True", probe.stderr


def test_pure_python_is_asked_for_by_the_environment() -> None:
    probe = run_python("import importlib, common.native as n; "
                       f"print(any(n.is_compiled(importlib.import_module(m)) for m in {CORE!r}))",
                       VIABTC_PURE_PYTHON="1")
    assert probe.stdout.strip() == "False"


def make_tree(tmp_path: Path) -> Path:
    for package in native.PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "common" / "decimals.py").write_text("A = 1\n")
    (tmp_path / "common" / "config.py").write_text("B = 1\n")
    (tmp_path / "matchengine" / "market.py").write_text("C = 1\n")
    suffix = native.importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / "common" / f"decimals{suffix}").write_bytes(b"")
    (tmp_path / "matchengine" / f"market{suffix}").write_bytes(b"")
    return tmp_path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_compiled_files_are_the_modules_with_a_compiled_copy(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    assert compiled_files(root) == {"common.decimals": root / "common" / "decimals.py",
                                    "matchengine.market": root / "matchengine" / "market.py"}


def test_a_changed_or_unknown_source_is_stale(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    compiled = compiled_files(root)
    stamp = {name: sha(path) for name, path in compiled.items()}
    assert stale_modules(compiled, stamp) == []
    (root / "matchengine" / "market.py").write_text("C = 2\n")
    assert stale_modules(compiled, stamp) == ["matchengine.market"]
    del stamp["common.decimals"]
    assert stale_modules(compiled, stamp) == ["common.decimals", "matchengine.market"]


def test_the_source_finder_loads_the_py_file(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    finder = SourceFinder(compiled_files(root))
    spec = finder.find_spec("matchengine.market", None)
    assert spec is not None and spec.origin == str(root / "matchengine" / "market.py")
    assert finder.find_spec("matchengine.server", None) is None


def test_an_edited_source_runs_from_source_with_a_warning(tmp_path: Path) -> None:
    """End to end on a copy of the checkout: one edited module sends every compiled module to its source."""
    if not compiled_files():
        return  # a pure build has nothing to go stale
    copy = tmp_path / "tree"
    copy.mkdir()
    for package in native.PACKAGES:
        subprocess.run(["cp", "-a", str(ROOT / package), str(copy / package)], check=True)
    for group in ROOT.glob("*__mypyc*"):
        subprocess.run(["cp", "-a", str(group), str(copy)], check=True)
    with (copy / "matchengine" / "market.py").open("a") as f:
        f.write("\nEDITED = True\n")
    probe = subprocess.run(
        [sys.executable, "-c", "import common.native as n, matchengine.market as m, matchengine.engine as e; "
                               "print(m.EDITED, n.is_compiled(m), n.is_compiled(e))"],
        capture_output=True, text=True, cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)}, check=True)
    assert probe.stdout.split() == ["True", "False", "False"]
    assert "do not match their sources (matchengine.market)" in probe.stderr

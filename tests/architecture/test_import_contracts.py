"""The import-linter contracts of pyproject.toml (#17) really fail when an arrow is broken.

``./test`` runs ``lint-imports`` on the tree; these tests run it on a copy of the package with
one import added that the guide forbids, and expect the contract that names it to break. So a
contract loosened until it checks nothing fails here, not silently in review.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of src/lanfax (Python files only) beside the project's pyproject.toml."""
    root = tmp_path_factory.mktemp("arrows")

    def only_python(directory: str, names: list[str]) -> list[str]:
        return [
            n
            for n in names
            if not (n.endswith(".py") or (Path(directory) / n).is_dir())
            or n in ("__pycache__", "node_modules", "static")
        ]

    shutil.copytree(ROOT / "src" / "lanfax", root / "src" / "lanfax", ignore=only_python)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    yield root


def lint(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    args = [str(LINT), "--no-cache", "--no-logo"]
    for c in contracts:
        args += ["--contract", c]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_every_contract(copy: Path) -> None:
    out = lint(copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # the arrows #17 mended: the API reaches the store and documents through the service
        ("api/admin.py", "from lanfax.store.audit import SqlAudit", "api"),
        ("api/covers.py", "from lanfax.documents.cover import preview", "api"),
        # upward: the vocabulary imports nothing
        ("model/jobs.py", "import lanfax.service.core", "rooms"),
        # the client never loads server code, not even through another module
        ("client/_core.py", "import lanfax.documents", "client"),
        # sideways and skipping arrows the layers alone would allow
        ("store/sql.py", "import lanfax.documents", "store"),
        ("providers/sip/call.py", "import lanfax.documents", "providers"),
        ("routing/manager.py", "import lanfax.engine", "routing"),
        ("web/__init__.py", "import lanfax.service.core", "web"),
        # a CLI verb other than serve and doctor loading the server
        ("cli/_send.py", "import lanfax.service.core", "cli"),
        # the service past the store's interface, or into a provider
        ("service/contacts.py", "from lanfax.store.sql import SqlStore", "service-store-api"),
        ("service/devices.py", "import lanfax.providers.sip", "service-providers-api"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    copy: Path, module: str, line: str, contract: str
) -> None:
    path = copy / "src" / "lanfax" / module
    original = path.read_text()
    try:
        path.write_text(original + f"\n{line}  # noqa\n")
        out = lint(copy, contract)
    finally:
        path.write_text(original)
    assert out.returncode != 0, out.stdout
    assert "1 broken" in out.stdout, out.stdout
    imported = line.split()[1]
    assert f"-> {imported} " in out.stdout or f"-> {imported}\n" in out.stdout, out.stdout

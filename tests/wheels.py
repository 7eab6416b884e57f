"""Building the project's two wheels as a release would, for tests of what each one ships."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from codegen.paths import REPO

OPERATOR = "reactivejob_operator"
TESTBED = "reactivejob_testbed"


def build_wheels(destination: Path) -> dict[str, Path]:
    """Wheels of the operator and of the testbed, by distribution name (underscored)."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
            "--no-build-isolation", "--wheel-dir", str(destination),
            str(REPO), str(REPO / "testbed"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )  # fmt: skip
    return {path.name.split("-")[0]: path for path in destination.glob("*.whl")}


def file_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def runtime_requirements(wheel: Path) -> list[str]:
    """Requires-Dist without extras: what ``pip install`` of the wheel always brings."""
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    return [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]

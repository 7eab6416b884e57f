"""The demo a person runs first tells the whole story, on its own control plane.

It runs from the installed wheels, not the checkout: the example it applies must ship as
package data, and nothing may reach back into the source tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.wheels import build_wheels


def test_demo_tells_the_whole_story_and_cleans_up(tmp_path: Path) -> None:
    wheels = build_wheels(tmp_path / "wheels")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         *map(str, wheels.values())],
        check=True,
    )  # fmt: skip
    # The wheels' packages come first on the path; dependencies (kopf, kubernetes...) still come
    # from this environment. Run from an empty folder so no checkout-relative path can work.
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import reactivejob, testbed.demo; "
         "print(reactivejob.__file__); print(testbed.demo.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout
    result = subprocess.run(
        [sys.executable, "-m", "testbed.demo", "--no-wait"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for line in (
        "kubectl apply -f reactivejob.yaml",
        "state Processing",
        "generation 2, state Ready",
        "generation 3, state Error, Ready=False",
        "generation 4, state Ready, Ready=True",
        "(a manual re-run)",
        "generation 6, state Ready, Ready=True",
        "kubectl reactivejob history migrate-db",
        "Rerun (demo-1)",
        "TemplateChanged   Cancelled",
        "ReactiveJob and all its Jobs are gone.",
        "export KUBECONFIG=",
    ):
        assert line in out, out

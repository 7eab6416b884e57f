"""The demo a person runs first tells the whole story, on its own control plane."""

from __future__ import annotations

import subprocess
import sys


def test_demo_tells_the_whole_story_and_cleans_up() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reactivejob.demo", "--no-wait"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for line in (
        "state Processing",
        "generation 2, state Ready",
        "generation 3, state Error, Ready=False",
        "generation 4, state Ready, Ready=True",
        "ReactiveJob and all its Jobs are gone.",
        "export KUBECONFIG=",
    ):
        assert line in out, out

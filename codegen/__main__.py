"""``python -m codegen``: schema/ -> generated/ (and the chart's CRD). ``--check`` only compares."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .emit import Layout, drift, relative, render, report, write
from .loader import SchemaError
from .paths import REPO, SCHEMA_DIR


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if generated files drift")
    parser.add_argument("--schema", type=Path, default=SCHEMA_DIR, help="schema folder")
    parser.add_argument("--root", type=Path, default=REPO, help="repository root to write into")
    args = parser.parse_args(argv)
    layout = Layout(args.root)
    try:
        outputs = render(args.schema, layout)
    except SchemaError as error:
        report(f"schema error: {error.location}: {error.reason}\nnothing was written.")
        return 2
    if args.check:
        changed = drift(outputs)
        if changed:
            report(
                "generated files are out of date with schema/ (run `make generate`):\n"
                + relative(changed, args.root)
            )
            return 1
        report(f"generated files match schema/ ({len(outputs)} files)")
        return 0
    written = write(outputs)
    report(
        f"wrote {len(written)} of {len(outputs)} files"
        + (":\n" + relative(written, args.root) if written else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

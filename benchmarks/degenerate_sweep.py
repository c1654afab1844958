"""Re-measures issue #21's hardening figures: degenerate geometry and bad arguments.

Runs the two tables of ``tests/degenerate_cases.py`` and prints, for the degenerate inputs,
how many give finite values and finite gradients (and which do not, with the part of the code
responsible), and for the bad arguments, how many raise a clear ``ValueError``/``TypeError``
naming the argument (and which are accepted silently or fail otherwise). Not a timing
benchmark (so not ``bm_*.py``); it takes a few minutes on a laptop CPU (the renderers
compile a value-and-gradient function each).

    python benchmarks/degenerate_sweep.py [--verbose] [--fast]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests/

from tests.degenerate_cases import (  # noqa: E402
    BAD_ARGUMENTS,
    DEGENERATE,
    check_bad_argument,
    check_case,
)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print every entry")
    parser.add_argument("--fast", action="store_true", help="only the default suite's cases")
    args = parser.parse_args(argv)

    cases = [c for c in DEGENERATE if c.fast or not args.fast]
    results = {c.name: (c.owner, check_case(c)) for c in cases}
    finite = sum(r == "ok" for _, r in results.values())
    print(f"degenerate geometry: {len(results)} cases, {finite} finite in values and gradients")
    for name, (owner, r) in results.items():
        if r != "ok" or args.verbose:
            print(f"  [{r}] {name}" + (f"  ({owner})" if owner != "numeric" else ""))

    bad = {b.name: (b.owner, check_bad_argument(b)) for b in BAD_ARGUMENTS}
    clear = sum(r == "clear" for _, r in bad.values())
    print(f"bad arguments: {len(bad)} cases, {clear} clear errors")
    for name, (owner, r) in bad.items():
        if r != "clear" or args.verbose:
            print(f"  [{r}] {name}" + (f"  ({owner})" if owner != "numeric" else ""))
    return {"cases": len(results), "finite": finite, "bad": len(bad), "clear": clear}


if __name__ == "__main__":
    main()

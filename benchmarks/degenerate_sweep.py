"""Re-measures issue #21's hardening figures: degenerate geometry and bad arguments.

Runs the two tables of ``tests/degenerate_cases.py`` and prints, for the degenerate inputs,
how many give finite values and finite gradients (and which do not, with the part of the code
responsible), and for the bad arguments, how many raise a clear ``ValueError``/``TypeError``
naming the argument (and which are accepted silently or fail otherwise); entries print as they
finish. Not a timing
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

    def show(name, owner, r, good):
        if r != good or args.verbose:  # as they come (the whole sweep takes minutes)
            print(f"  [{r}] {name}" + (f"  ({owner})" if owner != "numeric" else ""), flush=True)

    print("bad arguments:", flush=True)
    bad = {}
    for b in BAD_ARGUMENTS:
        bad[b.name] = check_bad_argument(b)
        show(b.name, b.owner, bad[b.name], "clear")
    clear = sum(r == "clear" for r in bad.values())
    print(f"bad arguments: {len(bad)} cases, {clear} clear errors", flush=True)

    print("degenerate geometry:", flush=True)
    results = {}
    for c in DEGENERATE if not args.fast else [c for c in DEGENERATE if c.fast]:
        results[c.name] = check_case(c)
        show(c.name, c.owner, results[c.name], "ok")
    finite = sum(r == "ok" for r in results.values())
    print(f"bad arguments: {len(bad)} cases, {clear} clear errors")
    print(f"degenerate geometry: {len(results)} cases, {finite} finite in values and gradients")
    return {"cases": len(results), "finite": finite, "bad": len(bad), "clear": clear}


if __name__ == "__main__":
    from jax3d.utils import enable_compilation_cache

    enable_compilation_cache()  # compiled programs persist across runs (first-call
    # numbers: bm_first_call.py, which measures with and without the cache)
    main()

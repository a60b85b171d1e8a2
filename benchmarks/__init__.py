"""facexpr's benchmarks: scripts that print tables committed to ``docs/benchmarks/*.md``.

Run each one as a module from the repository root, e.g.
``OMP_NUM_THREADS=1 python -m benchmarks.bench_generalization --out docs/benchmarks/generalization.md``.
:mod:`benchmarks.protocol` holds the ExpW protocol and the statistics they share,
:mod:`benchmarks._report` how a run is described and written to its page. They use facexpr's
public API only. Not part of the installed package.
"""

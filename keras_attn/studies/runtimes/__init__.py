"""The runtime benchmark behind `benchmarks/runtimes_bench.py` (issue 28):
its files (`exports`, `whatif`), what they hold (`graphs`), the timers and
the CPU's peak (`timers`, `peaks`), and the result (`summary`, `table`).
"""

"""Research behind `benchmarks/` (big_vision's `proj/` rule): grids of runs
over variants and seeds (`grid`, `variants`), their statistics (`stats`),
costs (`cost`), reports (`grid_report`, `modes_report`, `paired_cells`), the
localisation study (`localisation`) and the parts of the runtime benchmark
(`runtimes`). Studies import the core; nothing in the core imports them.
"""

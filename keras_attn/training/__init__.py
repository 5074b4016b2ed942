"""Training: the run's settings (`config`, `recipes`), the optimizer and
schedule (`optimizers`), resume backups (`checkpoints`), the phases of a
run and their `fit` (`phases`, `feature_cache` for a frozen backbone,
`input_pipeline` to feed `fit` on each backend), `trainer` (build, fit) and
`finish` (the finished run folder). Training ends at the run folder: nothing
here imports export, inference or the studies.
"""

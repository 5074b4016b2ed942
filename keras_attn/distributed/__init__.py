"""Training on several devices and workers with the engines Keras and
TensorFlow ship (`keras.distribution`, `tf.distribute`), never a home-made
one: finding the cluster (`cluster`), joining it (`membership`), data-parallel
set-up (`parallel`), checking the workers run the same training
(`same_run`), noticing a lost worker (`failures`), and where each writes
(`worker_dirs`). The names below are what `train.py` and the trainer use.
"""

from keras_attn.distributed.cluster import (
    JOIN_TIMEOUT,
    Cluster,
    find_cluster,
    free_ports,
    jax_cluster,
    parse_tf_config,
)
from keras_attn.distributed.failures import (
    WorkerLost,
    as_worker_lost,
    failures_reported,
    lost_worker,
)
from keras_attn.distributed.membership import join, joined, leave, strategy
from keras_attn.distributed.parallel import (
    check_batch_size,
    data_parallel,
    global_batch_norm,
    tf_strategy,
)
from keras_attn.distributed.same_run import (
    all_gather,
    check_same_run,
    first_difference,
    run_fingerprint,
)
from keras_attn.distributed.worker_dirs import remove_worker_dirs, worker_dir

__all__ = [
    "JOIN_TIMEOUT",
    "Cluster",
    "WorkerLost",
    "all_gather",
    "as_worker_lost",
    "check_batch_size",
    "check_same_run",
    "data_parallel",
    "failures_reported",
    "find_cluster",
    "first_difference",
    "free_ports",
    "global_batch_norm",
    "jax_cluster",
    "join",
    "joined",
    "leave",
    "lost_worker",
    "parse_tf_config",
    "remove_worker_dirs",
    "run_fingerprint",
    "strategy",
    "tf_strategy",
    "worker_dir",
]

"""Noticing a lost worker, and telling the others when this one fails: one
line naming the worker and its reason, raised as `WorkerLost`."""

from __future__ import annotations

import contextlib

from keras_attn.distributed import membership
from keras_attn.distributed.cluster import Cluster
from keras_attn.errors import UserError, first_line


class WorkerLost(UserError):
    """Another worker stopped answering during a multi-worker run."""


def as_worker_lost(cluster: Cluster, error: Exception) -> WorkerLost | None:
    """`WorkerLost` for an engine error that means a worker was lost (this
    process then leaves without waiting for it, see `_exit_without_shutdown_
    barrier`), else None."""
    message = lost_worker(cluster, error)
    if message is None:
        return None
    membership.mark_failed()
    return WorkerLost(message)


@contextlib.contextmanager
def failures_reported(cluster: Cluster | None):
    """Tells the other workers when this one fails (an error escapes the
    block), so that they stop now, naming it and its reason, rather than
    wait for its heartbeat to time out: on TensorFlow through the
    coordination service (`report_error_to_cluster`); on JAX the process
    leaves without JAX's shutdown barrier, and the others see it gone."""
    try:
        yield
    except BaseException as e:
        if cluster is not None and not isinstance(e, WorkerLost):
            membership.mark_failed()
            if cluster.engine == "tensorflow":
                _report_to_cluster(cluster, e)
        raise


def _report_to_cluster(cluster: Cluster, error: BaseException) -> None:
    import tensorflow as tf
    from tensorflow.python.eager import context

    reason = f"{type(error).__name__}: {first_line(str(error))}"
    try:
        context.context().report_error_to_cluster(
            tf.errors.UNAVAILABLE, f"{cluster.name(cluster.index)} stopped: {reason}"
        )
    except Exception:  # noqa: BLE001 -- the cluster may be gone already
        pass


def lost_worker(cluster: Cluster, error: Exception) -> str | None:
    """The one line for an engine error that means a worker was lost (killed,
    crashed, unreachable); None for any other error."""
    text = str(error)
    name = type(error).__name__
    if cluster.engine == "tensorflow":
        import tensorflow as tf

        lost = isinstance(
            error, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError)
        ) or (
            isinstance(error, tf.errors.OpError) and "Collective ops is aborted" in text
        )
        if not lost:
            return None
        others = [i for i in membership.tasks_in(cluster, text) if i != cluster.index]
        who = others[0] if others else None
    else:
        markers = ("Gloo", "gloo", "Connection reset", "Connection refused")
        markers += ("UNAVAILABLE", "DEADLINE_EXCEEDED", "heartbeat")
        if "Runtime" not in name or not any(m in text for m in markers):
            return None
        who = _lost_jax_process(cluster)
    again = (
        "start the same command on every worker again (a run resumes from the "
        "chief's last backup)."
    )
    for worker in cluster.names:  # a worker that said why (`failures_reported`)
        if f"{worker} stopped: " in text:
            reason = first_line(text.split(f"{worker} stopped: ", 1)[1])[:200]
            return f"{worker} stopped ({reason}); fix that, then {again}"
    lost = "another worker" if who is None else cluster.name(who)
    reason = first_line(text.split("Collective ops is aborted by:")[-1])
    reason = reason.replace("Error dispatching computation: ", "")[:160]
    return f"lost {lost} ({name}: {reason}); see its output, then {again}"


def _lost_jax_process(cluster: Cluster) -> int | None:
    """Which process stopped: the other one of two, else the first the
    coordination service no longer counts as live."""
    if cluster.count == 2:
        return 1 - cluster.index
    try:
        from jax._src import distributed

        live = distributed.global_state.client.get_live_nodes(
            list(range(cluster.count))
        )
        gone = sorted(set(range(cluster.count)) - set(live))
        return gone[0] if gone else None
    except Exception:  # noqa: BLE001 -- the coordinator itself may be gone
        return 0 if cluster.index != 0 else None

"""matplotlib for files, not screens: the Agg back-end and atomic PNG writes."""

from keras_attn.utils import atomic_io


def pyplot():
    """`matplotlib.pyplot` on the Agg back-end (no display needed)."""
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ImportError("Plotting needs matplotlib: pip install matplotlib") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str) -> None:
    """Writes `fig` to the PNG `path` atomically and closes it."""
    plt = pyplot()
    with atomic_io.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)

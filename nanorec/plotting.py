"""Learning curves: the ``history_`` of a fitted model drawn as an image file.

    plot_history(model.history_, "curve.png", title="BPRMF on MovieLens-100K")

A history is a dict of per-epoch lists: "loss" (the mean training loss of each epoch, always) and,
when the model was fitted with validation data, one validation metric such as "valid_rmse" or
"valid_hr@10". The loss goes in the left panel; each validation metric gets a panel of its own on
the right (a metric has its own scale and direction, so they do not share an axis).

matplotlib is an optional extra (``pip install "nanorec[plot]"``), imported only when a plot is
drawn. The figure is built with matplotlib's object API and its Agg canvas, never pyplot: no window
opens and no global plotting state is touched. The file is written atomically, as model files are
(nanorec.io.write_atomically): to a temporary file beside the target, renamed into place once
complete, with the permissions the umask gives a new file.
"""

import os

import numpy as np

from nanorec.io import write_atomically


def require_matplotlib():
    """(Figure, MaxNLocator) from matplotlib, or ImportError naming the extra that installs it."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as error:
        raise ImportError(
            'plotting learning curves needs matplotlib: pip install "nanorec[plot]"'
        ) from error
    return Figure, MaxNLocator


def plot_history(history, path, title=None):
    """Draw the per-epoch curves of ``history`` into the image file ``path``.

    Parameters
    ----------
    history : dict str -> sequence of numbers
        "loss" (required) and any validation metrics, each with one finite value per epoch (E
        values, the same E for every curve; E >= 1).
    path : str or Path
        The image to write; its extension picks the format (.png, .svg, .pdf, ...).
    title : str, optional
        A title over the panels.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ValueError
        A history without "loss", with an empty, ragged or non-finite curve, or a path whose
        extension matplotlib cannot write.
    ImportError
        matplotlib is not installed.
    """
    curves = check_history(history)
    Figure, MaxNLocator = require_matplotlib()
    path = os.fspath(path)
    figure = Figure(figsize=(5 * len(curves), 3.6), layout="constrained")
    file_format = image_format(path)
    for position, (name, values) in enumerate(curves.items(), start=1):
        axes = figure.add_subplot(1, len(curves), position)
        epochs = np.arange(1, len(values) + 1)
        axes.plot(epochs, values, marker="o" if len(values) <= 30 else None, markersize=3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.set_title("training loss" if name == "loss" else name)
        axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    write_atomically(path, lambda out: figure.savefig(out, format=file_format))
    return path


def check_history(history):
    """The curves of a history as {name: float64 array (E,)}, "loss" first; ValueError if bad."""
    if not isinstance(history, dict):
        raise ValueError(f"history must be a dict of per-epoch lists, got {type(history).__name__}")
    if "loss" not in history:
        raise ValueError(f"history has no 'loss' curve (keys: {sorted(map(str, history))})")
    curves = {}
    for name in ["loss"] + [key for key in history if key != "loss"]:
        try:
            values = np.asarray(history[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"history[{name!r}] must be a list of numbers") from None
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(f"history[{name!r}] must be a non-empty list of numbers, one per epoch")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"history[{name!r}] holds NaN or infinite values (did training diverge?)")
        curves[str(name)] = values
    lengths = {name: len(values) for name, values in curves.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"history curves differ in length (epochs per curve: {lengths})")
    return curves


def image_format(path):
    """The image format named by the extension of ``path`` ("png", "svg", ...): ValueError when
    matplotlib cannot write it, ImportError without matplotlib. Cheap: check a path before the
    training whose curve it will hold."""
    Figure, _ = require_matplotlib()
    extension = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    supported = Figure().canvas.get_supported_filetypes()
    if extension not in supported:
        raise ValueError(
            f"cannot write a plot to {os.fspath(path)!r}: the extension must be one of "
            f"{', '.join('.' + name for name in sorted(supported))}"
        )
    return extension

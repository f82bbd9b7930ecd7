"""The one matplotlib helper every plot function shares: draw into a given Axes or a new Figure."""

from __future__ import annotations

from typing import Any


def figure_and_axes(ax: Any, figsize: tuple[float, float],
                    layout: str | None = "constrained") -> tuple[Any, Any]:
    """(figure, ax) for `ax`, or a new Figure (no pyplot, nothing shown) with one Axes when ax is None."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure  # lazy: keeps importing the package light

    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.add_subplot()

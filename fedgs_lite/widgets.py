"""Thin ipywidgets wrappers around `explorers`: controls -> compute -> figure in an Output widget.

Every explorer returns a `widgets.VBox` laid out as ``[HBox(controls), HTML(summary), Output]`` with a
few extra attributes for code and tests: ``controls`` (dict of the control widgets by description),
``last_result`` (the explorer's latest dataclass), ``refresh()`` and ``error`` (the message of the last
failed update, else None). Controls carry the CSS class ``fedgs-control`` so browser tests find them.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

from fedgs_lite.availability import available_modes
from fedgs_lite.explorers import (
    FEATURES,
    demo_federation,
    explore_availability,
    explore_graph,
    explore_sampler,
)
from fedgs_lite.graph import label_3dg
from fedgs_lite.samplers import SAMPLERS

CONTROL_CLASS = "fedgs-control"
DPI = 80  # small PNGs keep each update snappy


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the interactive explorers need ipywidgets: pip install ipywidgets") from e
    return ipywidgets


def figure_png(fig, dpi: int = DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _control(widget):
    widget.add_class(CONTROL_CLASS)
    widget.style = {"description_width": "initial"}
    return widget


def _seed_box(w, seed: int):
    return _control(w.BoundedIntText(value=seed, min=0, max=10_000, description="seed",
                                     layout=w.Layout(width="9em")))


def tidy(value: Any) -> Any:
    """A slider's float without its binary noise (0.05 * 14 is 0.7000000000000001; shown as MDF-0.7)."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _explorer(controls: list, compute: Callable[[dict[str, Any]], Any],
              summarise: Callable[[Any], str], title: str):
    """Assemble the common layout and wire every control to recompute and redraw."""
    w = _ipywidgets()
    from IPython.display import Image

    summary = w.HTML()
    output = w.Output()
    box = w.VBox([w.HBox(controls, layout=w.Layout(flex_flow="row wrap")), summary, output])
    box.add_class("fedgs-explorer")
    box.controls = {c.description: c for c in controls}
    box.summary, box.output = summary, output
    box.last_result, box.error = None, None

    def refresh(_change=None) -> None:
        values = {name: tidy(c.value) for name, c in box.controls.items()}
        try:
            result = compute(values)
        except ValueError as e:  # a bad combination of settings: say so, keep the last figure
            box.error = str(e)
            summary.value = f"<b>{title}</b>: <span style='color:#b00'>{html.escape(str(e))}</span>"
            return
        box.error = None
        box.last_result = result
        summary.value = f"<b>{title}</b>: {summarise(result)}"
        png = figure_png(result.figure)
        output.outputs = ()
        output.append_display_data(Image(data=png, format="png"))

    for c in controls:
        c.observe(refresh, names="value")
    box.refresh = refresh
    refresh()
    return box


def availability_explorer(fed=None, *, mode: str = "LN", beta: float = 0.1, rounds: int = 48, seed: int = 0,
                          modes: tuple[str, ...] | None = None):
    """Pick an availability mode, its beta, the number of rounds and the seed; see who is available."""
    w = _ipywidgets()
    controls = [
        _control(w.Dropdown(options=list(modes or available_modes()), value=mode, description="mode")),
        _control(w.FloatSlider(value=beta, min=0.05, max=0.95, step=0.05, description="beta",
                               continuous_update=False)),
        _control(w.IntSlider(value=rounds, min=5, max=200, step=5, description="rounds",
                             continuous_update=False)),
        _seed_box(w, seed),
    ]

    def compute(v):
        return explore_availability(v["mode"], v["beta"], v["rounds"], v["seed"], fed=fed)

    def summarise(r) -> str:
        return (f"{html.escape(r.spec)}, {r.available_per_round.mean():.1f} of {r.trace.shape[0]} clients "
                f"available per round on average. Favours {html.escape(r.favours)}."
                f"<br><small>{html.escape(r.description)}</small>")

    return _explorer(controls, compute, summarise, "availability")


def graph_explorer(fed=None, *, epsilon: float = 0.01, sigma: float = 0.1, features: str = "label",
                   feature_matrix=None, seed: int = 0):
    """Build the 3DG with epsilon and sigma sliders; compare its edges with the label oracle.

    `feature_matrix` (N, P) replaces the "update" features (e.g. ones computed earlier in a notebook).
    """
    w = _ipywidgets()
    controls = [
        _control(w.Dropdown(options=list(FEATURES), value=features, description="features")),
        _control(w.FloatSlider(value=epsilon, min=0.0, max=0.95, step=0.01, description="epsilon",
                               continuous_update=False)),
        _control(w.FloatLogSlider(value=sigma, base=10, min=-3, max=0, step=0.25, description="sigma",
                                  continuous_update=False, readout_format=".3g")),
    ]

    def compute(v):
        x = feature_matrix if v["features"] == "update" else None
        return explore_graph(v["epsilon"], v["sigma"], v["features"], fed=fed, feature_matrix=x, seed=seed)

    def summarise(r) -> str:
        s = r.scores
        return (f"{r.num_edges} edges (density {r.density:.2f}); against the label oracle: precision "
                f"{s['precision']:.2f}, recall {s['recall']:.2f}, F1 {s['f1']:.2f}")

    return _explorer(controls, compute, summarise, "3DG")


def _sampler_controls(w, fed, sampler, alpha, m, mode, rounds, seed, modes) -> list:
    mode_options = list(modes) if mode in modes else [mode, *modes]
    return [
        _control(w.Dropdown(options=list(SAMPLERS), value=sampler, description="sampler")),
        _control(w.FloatSlider(value=alpha, min=0.0, max=2.0, step=0.05, description="alpha",
                               continuous_update=False)),
        _control(w.IntSlider(value=m, min=1, max=fed.num_clients, description="M", continuous_update=False)),
        _control(w.Dropdown(options=mode_options, value=mode, description="mode")),
        _control(w.IntSlider(value=rounds, min=5, max=300, step=5, description="rounds",
                             continuous_update=False)),
        _control(w.IntSlider(value=rounds - 1, min=0, max=rounds - 1, description="round",
                             continuous_update=False)),
        _seed_box(w, seed),
        _control(w.Checkbox(value=False, description="exact", indent=False)),
    ]


def _sampler_summary(r) -> str:
    text = (f"round {r.round_idx}: {r.available_now.size} available, picked "
            f"{r.selected_now.tolist()}; count variance so far {r.count_variance:.2f}, Jain {r.jain:.3f}")
    s = r.solvers
    if s is not None:
        text += (f"<br>this round's FedGS problem: fast {s.fast.objective:.4f} in "
                 f"{s.fast.seconds * 1e3:.1f} ms, exact ({s.exact.status}) {s.exact.objective:.4f} in "
                 f"{s.exact.seconds:.2f} s: gap "
                 f"{100 * s.gap:.2f}%{' (same clients)' if s.same_selection else ''}")
    return text


def sampler_explorer(fed=None, *, sampler: str = "fedgs", alpha: float = 0.1, m: int = 5,
                     mode: str = "LN-0.1", rounds: int = 60, seed: int = 0, graph=None,
                     modes: tuple[str, ...] = ("IDL", "LN-0.1", "SLN-0.1", "MDF-1", "LDF-0.5", "YFF-0.5",
                                               "HOMO-0.5", "YC-0.5")):
    """Pick a sampler, FedGS's alpha, M, an availability mode and a round; see who is picked.

    Moving only the round slider reuses the simulation. Tick "exact" to solve that round's FedGS
    problem with the exact solver too and show the fast solver's optimality gap.
    """
    w = _ipywidgets()
    fed = demo_federation() if fed is None else fed
    graph = label_3dg(fed) if graph is None else graph
    controls = _sampler_controls(w, fed, sampler, alpha, m, mode, rounds, seed, modes)
    round_slider = controls[5]
    cache: dict[tuple, Any] = {}

    def follow_rounds(change) -> None:  # registered before the redraw: the round stays in range
        round_slider.max = change["new"] - 1
        round_slider.value = change["new"] - 1

    controls[4].observe(follow_rounds, names="value")

    def compute(v):
        key = (v["sampler"], v["alpha"], v["M"], v["mode"], v["rounds"], v["seed"])
        t = min(v["round"], v["rounds"] - 1)
        view = explore_sampler(v["sampler"], v["alpha"], v["M"], v["mode"], v["rounds"], t, v["seed"],
                               fed=fed, graph=graph, result=cache.get(key), exact=v["exact"])
        cache.clear()  # only the latest simulation: the round slider reuses it
        cache[key] = view.result
        return view

    return _explorer(controls, compute, _sampler_summary, "sampler")

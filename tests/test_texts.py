"""What the kit tells people is true: the command names itself as typed and has --version, its help says
why defaults differ, notebook texts describe the figures they sit over, widgets show tidy numbers, and the
README says how to open the notebooks (keeping exactly two set-up-and-go commands)."""

import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from fedgs_lite import cli
from fedgs_lite.explorers import demo_federation, explore_availability
from fedgs_lite.plots import plot_availability_heatmap

REPO = Path(__file__).resolve().parents[1]


def markdown(notebook: str) -> str:
    cells = json.loads((REPO / "notebooks" / notebook).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_the_command_names_itself_as_typed_and_has_a_version():
    module = subprocess.run([sys.executable, "-m", "fedgs_lite", "--help"], capture_output=True, text=True)
    assert module.stdout.startswith("usage: python -m fedgs_lite ")
    script = shutil.which("fedgs-lite", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the fedgs-lite script is not installed in this environment")
    installed = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert installed.stdout.startswith("usage: fedgs-lite ")
    assert "`fedgs-lite COMMAND --help`" in " ".join(installed.stdout.split())
    assert subprocess.run([script, "--version"], capture_output=True, text=True).stdout.strip() == \
        f"fedgs-lite {version('fedgs_lite')}"


def test_help_says_why_the_device_defaults_differ(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default cpu: the demo's table is then the same on every machine, bit for bit; reproduce " \
           "defaults to auto, as its grid is long)" in text
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--help"])
    assert "(default auto: the grid is long; run's default is cpu, for its reproducible demo)" in \
        " ".join(capsys.readouterr().out.split())


def test_notebook_00_names_the_colour_its_heatmap_draws_available_clients_in():
    text = markdown("00_quickstart.ipynb")
    assert "Dark blue = available" in text and "Green" not in text
    image = plot_availability_heatmap(np.array([[True, False]])).axes[0].images[0]
    r, g, b = to_rgb(image.cmap(image.norm(1)))
    assert b > max(r, g) and 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.35  # dark blue


def test_notebook_02_says_which_end_of_its_heatmap_holds_the_smallest_clients():
    assert "(top = smallest)" in markdown("02_availability.ipynb")
    view = explore_availability("MDF", 1.0, rounds=10)
    image = view.figure.axes[0].images[0]
    sizes = demo_federation().sizes
    order = np.argsort(sizes, kind="stable")
    assert image.origin == "upper"  # row 0 is drawn at the top
    np.testing.assert_array_equal(image.get_array(), view.trace[order])
    assert sizes[order[0]] == sizes.min()


def test_a_slider_beta_is_shown_without_binary_noise():
    pytest.importorskip("ipywidgets")
    from fedgs_lite.widgets import availability_explorer

    box = availability_explorer(mode="MDF", beta=0.5, rounds=10)
    box.controls["beta"].value = 0.05 * 14  # what the slider sends for 0.7: 0.7000000000000001
    assert box.error is None and box.last_result.spec == "MDF-0.7"
    assert "MDF-0.7," in box.summary.value and "0000000" not in box.summary.value


def test_the_readme_says_how_to_open_the_notebooks_and_keeps_two_commands():
    readme = (REPO / "README.md").read_text()
    assert len(re.findall(r"^```bash$", readme, flags=re.M)) == 2
    assert '`pip install -e ".[notebooks]"`' in readme and "`jupyter lab notebooks/`" in readme
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^notebooks = \[.*"jupyterlab', pyproject, flags=re.M)

"""Real-browser check of notebook 02: JupyterLab + headless Chromium (Playwright), no network.

Starts JupyterLab on 127.0.0.1 in a temp copy of notebooks/ and the notebook's kernel session, opens the
availability notebook once that kernel is connected and idle, runs all cells from the Run menu, checks
that the explorer's controls rendered, selects another mode and checks that the figure changed.
Screenshot: test-artifacts/notebook02.png.

Why the session is started first: JupyterLab 4.6 starts a notebook's kernel in the background after
opening it, and its execution indicator reads "idle" before any kernel exists. "Run All" in that window
makes every code cell start a kernel of its own (notebook `runCell`: `hasNoKernel` -> `startKernel()`),
racing the one being started: two kernels, one shut down under the running cells, cells that never run,
and widget comm messages on the dropped connection ("Error displaying widget: model not found"). With the
session running before the page opens, JupyterLab connects to it and starts nothing, and "Run All" waits
until the notebook's own kernel is connected and idle.
"""

import http.cookiejar
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "02_availability.ipynb"
CHROMIUM = os.environ.get("FEDGS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_TIMEOUT = 60
RUN_TIMEOUT = 120_000  # ms: the whole notebook, from a cold kernel


def _requirements() -> str | None:
    """Why the test cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (set FEDGS_CHROMIUM or apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; the system Chromium is used)"
    try:
        import ipywidgets  # noqa: F401
        import jupyterlab  # noqa: F401
    except ImportError as e:
        return f"JupyterLab or ipywidgets missing: {e}"
    if not (REPO / "notebooks" / NOTEBOOK).exists():
        return f"notebooks/{NOTEBOOK} is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "api/status", timeout=2) as r:
                json.load(r)
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {SERVER_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free local port serving a temp copy of notebooks/; yields its URL."""
    why = _requirements()
    if why:
        pytest.skip(why)
    root = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    # Ask nothing about news or updates: no network here.
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    settings /= "notification.jupyterlab-settings"
    settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = _free_port()
    # The kernel must import this checkout's fedgs_lite, whatever copy pip last installed (as the
    # papermill tests do).
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter_config"), MPLBACKEND="Agg",
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), PYTHONPATH=pythonpath)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.open_browser=False",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", "--ServerApp.password=",
           f"--ServerApp.root_dir={root}",
           # no network: no news feed, no update check, no PyPI extension manager
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
           "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: the test reads the kernel's state
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        cmd.append("--allow-root")
    log = tmp_path / "jupyterlab.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_server(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _api(url: str, path: str, body: dict | None = None):
    """GET (or POST `body` to) the server's REST API, with the XSRF cookie and header a page would send."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    opener.open(url + "lab", timeout=60).close()  # sets the _xsrf cookie
    xsrf = next((c.value for c in cookies if c.name == "_xsrf"), "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data,
                                     headers={"Content-Type": "application/json", "X-XSRFToken": xsrf})
    with opener.open(request, timeout=60) as r:
        return json.load(r)


def _start_session(url: str) -> str:
    """Start the notebook's kernel session on the server (as JupyterLab would on opening it), so that
    the page connects to it instead of starting one in the background; returns the kernel id."""
    kernel = json.loads((REPO / "notebooks" / NOTEBOOK).read_text())["metadata"]["kernelspec"]["name"]
    session = _api(url, "api/sessions",
                   {"path": NOTEBOOK, "name": NOTEBOOK, "type": "notebook", "kernel": {"name": kernel}})
    return session["kernel"]["id"]


_KERNEL_STATE = """(path) => {
    const app = window.jupyterapp;
    const panel = app && [...app.shell.widgets('main')].find(w => w.context && w.context.path === path);
    const context = panel && panel.sessionContext;
    const kernel = context && context.session && context.session.kernel;
    return {ready: !!(context && context.isReady), id: kernel ? kernel.id : null,
            connection: kernel ? kernel.connectionStatus : null, status: kernel ? kernel.status : null};
}"""


def _wait_for_kernel(page, kernel_id: str) -> None:
    """Until the notebook's session is ready and its kernel (the one started for it) is connected and
    idle: JupyterLab's execution indicator cannot tell, it reads "idle" while there is no kernel yet."""
    try:
        page.wait_for_function(f"""([path, id]) => {{
            const s = ({_KERNEL_STATE})(path);
            return s.ready && s.id === id && s.connection === 'connected' && s.status === 'idle';
        }}""", arg=[NOTEBOOK, kernel_id], timeout=90_000, polling=200)
    except Exception:
        raise AssertionError(f"the notebook never got kernel {kernel_id} connected and idle: "
                             f"{page.evaluate(_KERNEL_STATE, NOTEBOOK)}") from None


def _explorer_image_src(page) -> str | None:
    return page.evaluate("""() => {
        const img = document.querySelector('.fedgs-explorer .jp-OutputArea-output img');
        return img ? img.getAttribute('src') : null;
    }""")


def _cell_errors(page) -> list[str]:
    """Tracebacks shown in the notebook (JupyterLab renders an error as a stderr-typed output)."""
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                        ).all_inner_texts()


def _prompts(page) -> tuple[bool, bool]:
    """(every code cell has run, some cell is running or queued)."""
    return tuple(page.evaluate("""() => {
        const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
        return [prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)),
                prompts.some(p => p.textContent.includes('*'))];
    }"""))


def _run_all_cells(page) -> None:
    """Run > Run All Cells from the menu bar; returns once every code cell has run, and fails at once
    with the traceback of a cell that raised."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                 has_text="Run All Cells").first.click()
    deadline = time.monotonic() + RUN_TIMEOUT / 1000
    while time.monotonic() < deadline:
        errors = _cell_errors(page)
        assert not errors, "a cell failed in JupyterLab:\n" + "\n".join(errors)[-3000:]
        all_ran, busy = _prompts(page)
        if all_ran and not busy:
            return
        time.sleep(0.5)
    raise AssertionError(f"Run All did not run every cell within {RUN_TIMEOUT // 1000} s")


def test_notebook02_explorer_in_a_real_browser(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "notebook02.png"
    kernel_id = _start_session(jupyterlab)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        # Nothing but the local server: the badges' images and anything else outside fail at once.
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(jupyterlab)
                      else route.abort())
        page = context.pages[0] if context.pages else context.new_page()
        try:
            page.set_default_timeout(60_000)
            page.goto(jupyterlab + "lab/tree/" + NOTEBOOK, wait_until="domcontentloaded")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
            _wait_for_kernel(page, kernel_id)
            _run_all_cells(page)

            controls = page.locator(".fedgs-control")
            try:
                controls.first.wait_for(state="visible", timeout=30_000)
            except Exception:
                outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
                raise AssertionError("the explorer's controls never appeared; outputs:\n"
                                     + "\n---\n".join(o[:300] for o in outputs)) from None
            labels = page.locator(".fedgs-explorer .widget-label").all_inner_texts()
            assert {"mode", "beta"} <= {t.strip() for t in labels}, labels
            assert controls.count() >= 4  # mode, beta, rounds, seed

            page.wait_for_function("() => !!document.querySelector("
                                   "'.fedgs-explorer .jp-OutputArea-output img')", timeout=60_000)
            before = _explorer_image_src(page)
            assert before and before.startswith("data:image/png")

            mode = page.locator(".fedgs-explorer .widget-dropdown.fedgs-control select").first
            mode.scroll_into_view_if_needed()
            current = mode.input_value()
            options = [o for o in mode.locator("option").all_inner_texts() if o.strip() != current]
            new_mode = "MDF" if "MDF" in options else options[0]
            mode.select_option(label=new_mode)
            page.wait_for_function("""(old) => {
                const img = document.querySelector('.fedgs-explorer .jp-OutputArea-output img');
                return img && img.getAttribute('src') !== old;
            }""", arg=before, timeout=60_000)
            summary = page.locator(".fedgs-explorer .widget-html-content").first.inner_text()
            assert new_mode in summary, summary
            # One kernel all along: the page used the session's kernel and started none of its own.
            assert [k["id"] for k in _api(jupyterlab, "api/kernels")] == [kernel_id]

            news = page.locator(".jp-toast-button", has_text="No")  # the "official Jupyter news?" toast
            if news.count():
                news.first.click()
            page.locator(".fedgs-explorer").first.scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "notebook02-failure.png"))
            raise
        finally:
            context.close()
    assert shot.stat().st_size > 10_000

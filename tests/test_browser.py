"""The notebooks' widgets work in a real JupyterLab, driven by a real (headless) browser.

Papermill executes every notebook in `make test`, but it never draws a widget or clicks one: a
widget whose front-end fails to render, whose callback never fires, or whose figure never reaches the
page would pass there. This test starts JupyterLab on a random loopback port (with a token, no browser
of its own) over a temporary folder holding smoke-profile copies (with fewer steps) of two notebooks, opens each copy in
Debian's Chromium driven by Playwright, runs it with JupyterLab's own "Run > Run All Cells" menu, and
then uses the widget as a student would:

* notebook 02's latent explorer: a direction slider is moved with the keyboard; the explorer's image
  (a PNG inside its Output widget) must be redrawn, i.e. its bytes must change;
* notebook 01's training playground: the Train button is pressed; a plot must appear in the output
  and be redrawn while the toy GAN trains, and the button must come back when training ends.

Passing proves the whole chain: the ipywidgets extension renders the controls in JupyterLab, a browser
event travels over the kernel's comm channel to the Python callback, and the figure that callback draws
comes back into the page as an image. Screenshots of both widgets land in runs/browser/.

Requirements: the `chromium` Debian package (``apt-get install chromium``) and the packages in
requirements-browser.txt (Playwright drives the system Chromium; ``playwright install`` is never
needed). ``make test-browser`` installs the Python packages and runs this file; without them the tests
are skipped with the reason.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="Playwright is not installed: run `make test-browser` (pip install -r requirements-browser.txt)")
pytest.importorskip("pytest_playwright", reason="pytest-playwright is not installed: run `make test-browser` (pip install -r requirements-browser.txt)")
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402 (after the skip: needs Playwright)
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("no `chromium` on PATH: install Debian's package (apt-get install chromium), then run `make test-browser`",
                allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "runs" / "browser"
# Switches for a quiet, sandbox-free headless Chromium that never reaches outside the machine.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The machine may be a slow shared CPU: every wait is in minutes, never a speed check.
SERVER_START_S = 180
NOTEBOOK_RUN_S = 900
WIDGET_UPDATE_S = 180
RUN_START_S = 60  # from the Run All click to the first queued cell
# The notebook copies: the notebook, and the id of the widget cell the copy ends with.
LATENT_EXPLORER = ("02_dcgan_skin_lesions", "nb02-40")
TRAINING_PLAYGROUND = ("01_gan_theory", "d1948ee6")
# The cells before a widget only have to run: the smoke profile with fewer images. Notebook 02 keeps its smoke
# steps (cheap at 32 px), so the generator has learnt enough that a slider visibly changes its images.
FEWER_STEPS = {"02_dcgan_skin_lesions": {"n_images": 300, "n_eval": 60},
               "01_gan_theory": {"steps": 20, "d_star_steps": 20, "sweep_steps": 10, "gan_steps_1d": 20,
                                 "d_only_steps": 10}}


# ----------------------------------------------------------------------------
# Fixtures: smoke-profile notebook copies, a JupyterLab server, the browser
# ----------------------------------------------------------------------------

def smoke_copy(stem: str, last_cell_id: str, folder: Path) -> str:
    """Write notebooks/<stem>.ipynb cut after cell ``last_cell_id``, with smoke parameters (and
    :data:`FEWER_STEPS`) injected; return its file name."""
    import nbformat
    # papermill's reader and parameter injection, as `make notebooks` uses them
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    notebook = load_notebook_node(str(ROOT / "notebooks" / f"{stem}.ipynb"))
    ids = [cell.get("id") for cell in notebook.cells]
    assert last_cell_id in ids, f"{stem}: no cell with id {last_cell_id!r}; update the test to the widget cell's id"
    notebook.cells = notebook.cells[: ids.index(last_cell_id) + 1]
    notebook = parameterize_notebook(notebook, {"profile": "smoke", "output_dir": str(folder / "outputs" / stem),
                                                **FEWER_STEPS.get(stem, {})})
    name = f"{stem}_browser.ipynb"
    nbformat.write(notebook, folder / name)
    return name


def free_loopback_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def link(self, notebook: str) -> str:
        """Return the address that opens ``notebook`` in JupyterLab (token included, saved layout reset)."""
        return f"{self.url}/lab/tree/{notebook}?reset&token={self.token}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Start JupyterLab on 127.0.0.1 over a temporary folder of notebook copies; yield a Lab; shut it down."""
    root = tmp_path_factory.mktemp("lab_root")
    config = tmp_path_factory.mktemp("lab_config")
    # JupyterLab's "official news" prompt would cover part of the page in the screenshots.
    news = config / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # as `make lab`: the kernel picks inline
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),  # this checkout's medgan_nb
               OMP_NUM_THREADS="1", JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(config / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(config / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(config / "workspaces"))
    port, token = free_loopback_port(), secrets.token_hex(24)
    log = (config / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI containers often run as root
        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert server.poll() is None, f"JupyterLab exited with {server.returncode}:\n{log_tail(config)}"
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=10):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, f"JupyterLab did not answer in {SERVER_START_S} s:\n{log_tail(config)}"
                time.sleep(1)
        yield Lab(url, token, root)
    finally:
        stop_server(server, url, token)
        log.close()


def log_tail(config: Path, n_lines: int = 40) -> str:
    """Return the last lines of the JupyterLab server's log."""
    return "\n".join((config / "server.log").read_text(errors="replace").splitlines()[-n_lines:])


def stop_server(server: subprocess.Popen, url: str, token: str) -> None:
    """Ask JupyterLab to shut down (it stops its kernels first); terminate it if it does not exit."""
    try:
        request = urllib.request.Request(f"{url}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=30).close()
        server.wait(timeout=60)
    except Exception:  # the server never came up, or ignored the request
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium instead of a Playwright-downloaded one (Playwright gives it a fresh profile folder)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A window tall enough to show a whole widget cell."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1100}}


# ----------------------------------------------------------------------------
# Page helpers: open a notebook, run it, wait for the kernel
# ----------------------------------------------------------------------------

KERNEL_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
# True once no cell is queued or running ("[*]") and the first code cell has a number.
RUN_FINISHED = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent.trim());
    return prompts.length > 0 && /\\[\\d+\\]/.test(prompts[0]) && !prompts.some(p => p.includes('*'));
}"""


def open_and_run_all(page, lab: Lab, notebook: str):
    """Open ``notebook``, run every cell from JupyterLab's Run menu, and return the last code cell once all ran."""
    page.goto(lab.link(notebook))
    page.wait_for_selector(KERNEL_IDLE, timeout=SERVER_START_S * 1000)
    click_run_all(page, notebook)
    try:
        page.wait_for_function(RUN_FINISHED, timeout=NOTEBOOK_RUN_S * 1000, polling=1000)
        page.wait_for_selector(KERNEL_IDLE, timeout=NOTEBOOK_RUN_S * 1000)
    except Exception:
        save_screenshot(page, f"{notebook}_failure")
        raise
    last_cell = page.locator(".jp-CodeCell").last
    prompt = last_cell.locator(".jp-InputArea-prompt").inner_text().strip()
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    assert prompt[1:-2].isdigit(), f"{notebook}: the widget cell did not run (prompt {prompt!r}); cell errors:\n" + \
        "\n".join(e for e in errors if "Error" in e)[-3000:]
    return last_cell


# True once any code cell is queued, running or done: the kernel got the "Run All Cells" request.
RUN_STARTED = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""


def click_run_all(page, notebook: str, attempts: int = 3) -> None:
    """Choose Run > Run All Cells until a cell is queued; fail with a screenshot after ``attempts``.

    A click made while JupyterLab is still settling can run nothing (seen once in a CI-like run: the kernel
    stayed idle for 15 minutes), so the click is checked and repeated instead of trusted.
    """
    for attempt in range(1, attempts + 1):
        page.keyboard.press("Escape")  # close a menu a previous attempt left open
        page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()  # select a cell: the notebook is active
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(RUN_STARTED, timeout=RUN_START_S * 1000, polling=500)
            return
        except PlaywrightTimeout:
            shot = save_screenshot(page, f"{notebook}_run_all_attempt{attempt}")
    raise AssertionError(f"{notebook}: Run > Run All Cells queued no cell after {attempts} attempts; see {shot}")


def wait_kernel_idle(page) -> None:
    """Wait until the kernel has handled every message a widget sent (its status shows idle again)."""
    page.wait_for_timeout(500)  # let the busy status arrive first
    page.wait_for_selector(KERNEL_IDLE, timeout=WIDGET_UPDATE_S * 1000)


def save_screenshot(page_or_element, name: str) -> Path:
    """Save a PNG screenshot as runs/browser/<name>.png; return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page_or_element.screenshot(path=str(path))
    return path


def wait_for_new_image(page, cell, before: list[str], name: str) -> list[str]:
    """Wait until the cell's Output widget shows an image other than ``before``; return the new sources.

    The sources are read afresh at every poll, so an Output widget that replaces its <img> element (instead of
    changing its src) counts as a redraw too; a screenshot is saved when none arrives in WIDGET_UPDATE_S.
    """
    deadline = time.monotonic() + WIDGET_UPDATE_S
    while time.monotonic() < deadline:
        now = output_image_sources(cell)
        if now and now != before:
            return now
        page.wait_for_timeout(500)
    shot = save_screenshot(page, f"{name}_no_redraw")
    raise AssertionError(f"the widget's image was not redrawn within {WIDGET_UPDATE_S} s; see {shot}")


def output_image_sources(cell) -> list[str]:
    """Return the src of every image drawn inside the cell's Output widgets (data: URLs of PNGs)."""
    return cell.locator(".widget-output img").evaluate_all("images => images.map(i => i.src)")


TITLE_SHARE = 0.3  # the latent explorer's figure: a one-line title above one row of generated images


def generated_images_change(before: str, after: str) -> float:
    """Return the mean grey-level difference (0-255) of two explorer PNGs below their titles.

    The title prints the slider values, so the PNG changes whenever a slider moves; only the part below it
    shows whether the generated images changed.
    """
    import base64
    import io

    import numpy as np
    from PIL import Image

    grey = [np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("L"), dtype=float)
            for src in (before, after)]
    assert grey[0].shape == grey[1].shape, f"the explorer's figure changed size: {grey[0].shape} -> {grey[1].shape}"
    below_title = slice(int(TITLE_SHARE * grey[0].shape[0]), None)
    return float(np.abs(grey[0][below_title] - grey[1][below_title]).mean())


# ----------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------

def test_latent_explorer_redraws_when_a_slider_moves(page, lab):
    cell = open_and_run_all(page, lab, smoke_copy(*LATENT_EXPLORER, lab.root))
    sliders = cell.locator(".widget-slider")
    assert sliders.count() == 3, f"expected 3 direction sliders, found {sliders.count()}"
    assert cell.get_by_role("button", name="new samples").is_visible()
    image = cell.locator(".widget-output img")
    image.wait_for(timeout=WIDGET_UPDATE_S * 1000)
    before = output_image_sources(cell)
    assert len(before) == 1 and before[0].startswith("data:image/png"), f"expected one PNG, got {[s[:40] for s in before]}"

    # Four presses of the right arrow on the first slider's handle: direction 1 goes from 0 to +1.
    handle = sliders.first.locator(".noUi-handle")
    handle.focus()
    for _ in range(4):
        handle.press("ArrowRight")
    readout = sliders.first.locator(".widget-readout")
    page.wait_for_function("el => el.textContent.trim() === '1.00'", arg=readout.element_handle(),
                           timeout=WIDGET_UPDATE_S * 1000)
    wait_for_new_image(page, cell, before, "02_latent_explorer")
    wait_kernel_idle(page)

    after = output_image_sources(cell)
    assert len(after) == 1 and after[0].startswith("data:image/png"), f"expected one PNG, got {[s[:40] for s in after]}"
    assert after[0] != before[0], "moving the slider did not change the explorer's image"
    # an untrained generator's tiles differ by about 0.01 grey levels here, a smoke-trained one's by about 0.5
    change = generated_images_change(before[0], after[0])
    print(f"latent explorer: the generated images changed by {change:.3f} grey levels on average")
    assert change > 0.1, f"moving the slider redrew the title but hardly the generated images ({change:.3f} grey levels)"
    save_screenshot(cell, "02_latent_explorer")


# Keeps every distinct image the cell's Output widget shows, in order, in window.seenFrames.
RECORD_FRAMES = """cell => {
    window.seenFrames = [];
    const record = () => {
        for (const img of cell.querySelectorAll('.widget-output img')) {
            if (window.seenFrames[window.seenFrames.length - 1] !== img.src) window.seenFrames.push(img.src);
        }
    };
    new MutationObserver(record).observe(cell, {subtree: true, childList: true, attributes: true});
}"""


def test_training_playground_trains_and_redraws_the_plot(page, lab):
    cell = open_and_run_all(page, lab, smoke_copy(*TRAINING_PLAYGROUND, lab.root))
    train = cell.get_by_role("button", name="Train")
    assert train.is_enabled()
    assert cell.locator(".widget-slider").count() >= 6, "the playground's sliders did not render"
    assert output_image_sources(cell) == [], "the playground's plot area should be empty before training"

    cell.evaluate(RECORD_FRAMES)
    train.click()
    # The plot is redrawn every 100 generator steps: wait for the first frame and a later one.
    page.wait_for_function("() => window.seenFrames.length >= 2", timeout=WIDGET_UPDATE_S * 1000, polling=200)
    page.wait_for_function("button => !button.disabled", arg=train.element_handle(), timeout=WIDGET_UPDATE_S * 1000)
    wait_kernel_idle(page)

    frames = page.evaluate("window.seenFrames")
    assert all(src.startswith("data:image/png") for src in frames), [src[:40] for src in frames]
    assert len(set(frames)) >= 2, f"the plot was drawn but never redrawn ({len(frames)} frame)"
    assert output_image_sources(cell) == [frames[-1]], "the last frame drawn is not the one left on the page"
    assert "cannot train" not in cell.inner_text()
    save_screenshot(cell, "01_playground")

"""The app in a real browser: JupyterLab + headless Chromium (Playwright, no browser download).

Starts ``jupyter lab`` on 127.0.0.1 with a random port and token on a copy of a notebook in
tmp_path and runs all cells from the Run menu. In ``01_image_classification.ipynb`` it moves
the depth slider with the keyboard, clicks Build and checks that the parameter count shown
changes, then trains; in ``05_translation.ipynb`` it trains a tiny translation model, types a
sentence and presses Translate. Screenshots go to tmp_path and to ``/tmp/rk/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from support import REPO, write_kernelspec
from synthetic import make_parallel_dir

NOTEBOOKS = REPO / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IMAGES, TRANSLATION = "01_image_classification.ipynb", "05_translation.ipynb"
LANGUAGE_MODEL = "06_language_model.ipynb"
SCREENSHOT_COPY = Path("/tmp/rk/browser_screenshot.png")
# Upper bounds that only stop a hang; nothing here asserts on speed.
SERVER_START_S = 90
UI_TIMEOUT_MS = 120_000
TINY_TRAINING = {
    "EPOCHS": 1,
    "BATCH_SIZE": 32,
    "LIMIT": 256,
    "LIMIT_TEST": 128,
    "XLA": False,
    "OPEN_TENSORBOARD": False,
}

KERNEL_IDLE = re.compile(r"^(?!No Kernel).+ \| Idle$")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer {url}:\n{log.read_text()[-3000:]}")


def _tiny(name: str, tmp_path: Path) -> dict:
    """The parameters that make the notebook's run tiny."""
    if name == IMAGES:
        return TINY_TRAINING
    if name == LANGUAGE_MODEL:
        lines = [f"the {w} was {v} ." for w in ("game", "city", "song") for v in ("old", "new")]
        (tmp_path / "text.txt").write_text("\n".join(lines * 60) + "\n")
        return {"TASK": "language_model", "DATA": str(tmp_path / "text.txt"), "DEPTH": 1,
                "WIDTH": 16, "EPOCHS": 2, "BATCH_SIZE": 32, "LIMIT": 0, "SEQUENCE_LENGTH": 16,
                "VOCABULARY_SIZE": 100, "XLA": False, "OPEN_TENSORBOARD": False}  # fmt: skip
    data, _ = make_parallel_dir(tmp_path / "parallel", n_train=400, n_val=40)
    return {"TASK": "translation", "DATA": str(data), "LANGUAGES": "xx-yy", "DEPTH": 1,
            "WIDTH": 16, "EPOCHS": 2, "BATCH_SIZE": 32, "LIMIT": 0, "SEQUENCE_LENGTH": 16,
            "VOCABULARY_SIZE": 64, "XLA": False, "OPEN_TENSORBOARD": False}  # fmt: skip


def _start_session(base: str, token: str, notebook: str) -> None:
    """Starts the notebook's kernel through the REST API, so the page finds it running (and
    JupyterLab never asks which kernel to use)."""
    body = {"path": notebook, "type": "notebook", "name": notebook, "kernel": {"name": "python3"}}
    request = urllib.request.Request(
        f"{base}/api/sessions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 201, response.read()


def _run_all_cells(page, until) -> None:
    """Run > Run All Cells, until ``until`` (a locator) shows up.

    JupyterLab sometimes asks "Select Kernel" even though the session's kernel is running;
    the preselected kernel is ours, so the dialog is accepted and the cells are run again.
    """
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if dialog.is_visible():
            dialog.locator("button.jp-mod-accept").click()
            dialog.wait_for(state="hidden")
        # The status bar reads "No Kernel | Initializing" first, "<kernel> | Idle" once the
        # notebook is attached to the kernel; cells run before that end up asking for one.
        page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE).first.wait_for()
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
        page.locator(".lm-Menu-item", has=label).click()
        for _ in range(120):
            if until.count() and until.first.is_visible():
                return
            if dialog.is_visible():
                break
            page.wait_for_timeout(500)
    until.wait_for(timeout=1)  # fails with Playwright's message


def _stop_group(proc: subprocess.Popen) -> None:
    """Ends the server and its kernels (they run in the server's process group)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            # Kernels may outlive the server by a moment; make sure the group is gone.
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    """One JupyterLab server for the module, on tmp copies of the notebooks; yields (base url,
    token)."""
    tmp_path = tmp_path_factory.mktemp("lab")
    root = tmp_path / "notebooks"
    root.mkdir()
    for notebook in (IMAGES, TRANSLATION, LANGUAGE_MODEL):
        # The notebook as shipped, but training a tiny run when the test presses Train.
        book = nbformat.read(NOTEBOOKS / notebook, as_version=4)
        params = next(c for c in book.cells if "parameters" in c.metadata.get("tags", []))
        for name, value in _tiny(notebook, tmp_path).items():
            params.source, n = re.subn(
                rf"^{name} = .*$", f"{name} = {value!r}", params.source, count=1, flags=re.M
            )
            assert n == 1, name
        params.source += f"\nRUNS_DIR = {str(tmp_path / 'runs')!r}"
        nbformat.write(book, root / notebook)
    config = tmp_path / "config"
    (config / "labconfig").mkdir(parents=True)
    # No "get Jupyter news?" toast over the notebook.
    page_config = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    (config / "labconfig" / "page_config.json").write_text(json.dumps(page_config))
    env = {
        **os.environ,
        "JUPYTER_PATH": str(write_kernelspec(tmp_path / "jupyter")),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
    }
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyter.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            cwd=root,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels share the group, so one killpg ends all
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield base, token
    finally:
        _stop_group(proc)


@pytest.fixture
def lab_page(jupyter_lab, request):
    """Chromium on the notebook in JupyterLab, all its cells run; yields the page."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; `make test` does it as root)")
    base, token = jupyter_lab
    notebook = request.node.callspec.params["notebook"]
    _start_session(base, token, notebook)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(UI_TIMEOUT_MS)
            # A workspace of its own: the server's default one reopens the last test's notebook.
            workspace = Path(notebook).stem
            page.goto(f"{base}/lab/workspaces/{workspace}/tree/{notebook}?token={token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
            _run_all_cells(page, until=page.locator(".reskeras-app .reskeras-params"))
            page.locator(".reskeras-app").scroll_into_view_if_needed()
            yield page
        finally:
            browser.close()


def _keep(shot: Path) -> None:
    """A copy of the screenshot in /tmp/rk/ when that folder exists."""
    if SCREENSHOT_COPY.parent.is_dir():
        shutil.copy(shot, SCREENSHOT_COPY.parent / shot.name)


@pytest.mark.parametrize("notebook", [IMAGES])
def test_app_builds_in_jupyterlab(notebook, lab_page, tmp_path):
    page = lab_page
    app = page.locator(".reskeras-app")
    params = app.locator(".reskeras-params")
    before = params.inner_text()
    assert page.locator(".reskeras-app .reskeras-depth").inner_text() == "20"

    # Three steps right on the depth slider (20 -> 26 -> 32 -> 38), from the keyboard.
    depth_slider = app.locator(".widget-hslider", has=page.locator("label", has_text="depth"))
    handle = depth_slider.first.locator(".noUi-handle")
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    app.locator("button", has_text="Build").click()

    # Wait for the build at 38: a debounced rebuild at an intermediate depth may
    # land first while the last key press is still on its way to the kernel.
    page.wait_for_function(
        "() => { const e = document.querySelector('.reskeras-app .reskeras-depth');"
        " return e && e.textContent === '38'; }"
    )
    after = params.inner_text()
    depth = page.locator(".reskeras-app .reskeras-depth").inner_text()
    assert depth == "38" and after != before
    assert int(after.replace(",", "")) > int(before.replace(",", ""))
    assert "Built cifar_resnet38" in app.locator(".reskeras-status").inner_text()

    # Train (1 epoch, 256 images): the results appear under the curves.
    app.locator("button", has_text="Train").click()
    confusion = app.locator("img.reskeras-confusion")
    confusion.wait_for(state="visible", timeout=300_000)
    gallery = app.locator(".reskeras-gallery")
    assert gallery.is_visible()
    assert "Finished" in app.locator(".reskeras-status").inner_text()
    headline = app.locator(".reskeras-headline").inner_text()
    assert "128 test examples" in headline, headline
    assert app.locator(".reskeras-per-class tbody tr").count() == 10
    assert app.locator("#curve-batch_loss, [id^='curve-batch_loss']").count() >= 1

    confusion.scroll_into_view_if_needed()
    shot = tmp_path / SCREENSHOT_COPY.name
    page.screenshot(path=str(shot))
    app.screenshot(path=str(tmp_path / "app.png"))
    _keep(shot)


#: What a sequence notebook's app shows once trained: the results element, a prompt, the button
#: that tries it, what the answer holds, and what the status line must say beside the
#: test perplexity.
TRIES = {
    TRANSLATION: (".reskeras-bleu", "der hund läuft", "Translate", ["greedy"], "BLEU"),
    LANGUAGE_MODEL: (".reskeras-perplexity", "the game", "Sample", ["the game", "trained"], None),
}


@pytest.mark.parametrize("notebook", list(TRIES))
def test_sequence_app_trains_and_answers_in_jupyterlab(notebook, lab_page, tmp_path):
    results, prompt_text, button, answer, status = TRIES[notebook]
    page = lab_page
    app = page.locator(".reskeras-app")
    app.locator("button", has_text="Train").click()
    # Training ends with the test perplexity (and a translation's BLEU) in the status line.
    page.wait_for_function(
        "() => { const e = document.querySelector('.reskeras-app .reskeras-status');"
        " return e && e.textContent.includes('test perplexity'); }",
        timeout=300_000,
    )
    if status is not None:
        assert status in app.locator(".reskeras-status").inner_text()
    app.locator(results).first.wait_for()  # BLEU and chrF, or the test perplexity
    assert app.locator("[id^='curve-val_perplexity']").count() >= 1
    prompt = app.locator(".widget-text", has=page.locator("label", has_text="prompt"))
    prompt.locator("input").fill(prompt_text)
    app.locator("button", has_text=button).click()
    page.wait_for_function(
        "words => [...document.querySelectorAll('.reskeras-app .widget-html')]"
        ".some(e => words.every(w => e.textContent.includes(w)))",
        arg=answer,
    )
    shot = tmp_path / f"{Path(notebook).stem}_app.png"
    app.screenshot(path=str(shot))
    _keep(shot)

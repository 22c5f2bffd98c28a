"""Check the AU-similarity explorer in a real browser and save README's screenshot (not part of CI).

Starts JupyterLab headless on a copy of this checkout's notebook 09 (fast profile; data, caches and
runs are the checkout's), opens it in
Debian's Chromium through Playwright, runs every cell, clicks through the explorer (an AU
combination, then a clip) and saves screenshots to ``docs/images/``. It fails, naming the step, when a
widget does not render or does not react to a click.

Needs, once per machine (browser downloads are not possible here, so Playwright drives Debian's build)::

    apt-get install -y chromium chromium-driver
    .venv/bin/pip install -e ".[browser]"        # playwright, pinned in pyproject.toml

    .venv/bin/python data_scripts/screenshot_explorer.py [--out docs/images] [--port 8899]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def wait_for_port(port: int, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not listen on port {port} within {timeout:.0f} s")


def step(name: str):
    print(f"[explorer check] {name}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for notebook 09 to run in the browser")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("playwright is not installed: .venv/bin/pip install -e \".[browser]\"")
    if not Path(args.chromium).is_file():
        sys.exit(f"no Chromium at {args.chromium}: apt-get install -y chromium chromium-driver")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MELIB_PROFILE": "fast"}
    jupyter_dir = tempfile.mkdtemp(prefix="melib-jupyter-")
    served = Path(jupyter_dir) / "notebooks"  # a copy: JupyterLab autosaves outputs, the committed notebook stays clean
    served.mkdir()
    shutil.copy(ROOT / "notebooks" / "09_visualization.ipynb", served)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={args.port}", "--ip=127.0.0.1",
         "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={served}", "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env={**env, "JUPYTER_RUNTIME_DIR": jupyter_dir}, stdout=subprocess.DEVNULL, stderr=open(Path(jupyter_dir) / "server.log", "w"))
    try:
        wait_for_port(args.port, 60)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            try:
                click_through(page, args, out)
            except Exception:
                page.screenshot(path=str(out / "explorer_failure.png"), full_page=True)
                print(f"[explorer check] failed; the page as it was: {out / 'explorer_failure.png'}", flush=True)
                raise
            browser.close()
        for name in ("explorer_clip.png", "explorer.png", "explorer_clip2.png"):
            print(f"saved {out / name} ({(out / name).stat().st_size // 1024} KiB)")
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextlib.contextmanager
def redrawn(page, explorer, timeout: float = 120_000):
    """Wait, after the block's action, until both explorer images (thumbnails, co-occurrence) change."""
    images = [explorer.locator("img").nth(i) for i in range(2)]
    before = [img.get_attribute("src") for img in images]
    yield
    for img, old in zip(images, before):
        page.wait_for_function("([el, old]) => el.getAttribute('src') !== old", arg=[img.element_handle(), old],
                               timeout=timeout)
    page.wait_for_timeout(1000)


def click_through(page, args: argparse.Namespace, out: Path) -> None:
    """Run notebook 09 in the open JupyterLab page and click through the explorer, saving screenshots."""
    step("open notebook 09 in JupyterLab")
    page.goto(f"http://127.0.0.1:{args.port}/lab/tree/09_visualization.ipynb", timeout=120_000)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    dialog = page.locator(".jp-Dialog button", has_text="Select")
    try:  # a fresh server asks which kernel to start: the notebook's own, "Python (melib .venv)"
        dialog.first.wait_for(timeout=20_000)
        dialog.first.click()
    except Exception:
        pass
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=180_000)
    try:  # JupyterLab's "get notified about news?" toast would cover the explorer
        page.locator(".jp-toast-button", has_text="No").first.click(timeout=5_000)
    except Exception:
        pass
    step("Run > Run All Cells (trains nothing after notebooks 04-07; else one fold per method)")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    widget = page.locator(".widget-toggle-buttons").first
    widget.wait_for(timeout=args.timeout * 1000)
    explorer = page.locator(".jp-OutputArea-output:has(.widget-toggle-buttons)").first
    explorer.scroll_into_view_if_needed()
    page.wait_for_timeout(3000)
    explorer.screenshot(path=str(out / "explorer_clip.png"))
    step("query by AU combination: AUs, then AU1 and AU2")
    explorer.locator("button", has_text="AUs").first.click()
    select = explorer.locator("select[multiple]").first
    with redrawn(page, explorer):
        select.select_option(label=["AU1", "AU2"])
    if "AU1" not in explorer.inner_text():
        raise RuntimeError("the label-neighbour table did not update after choosing AU1+AU2")
    explorer.screenshot(path=str(out / "explorer.png"))
    step("back to a clip: the third clip in the dropdown")
    explorer.locator("button", has_text="clip").first.click()
    dropdown = explorer.locator("select:not([multiple])").first
    third = dropdown.locator("option").nth(2).get_attribute("value")
    with redrawn(page, explorer):
        dropdown.select_option(value=third)
    if third not in explorer.inner_text():
        raise RuntimeError(f"the explorer did not show clip {third} after choosing it")
    explorer.screenshot(path=str(out / "explorer_clip2.png"))


if __name__ == "__main__":
    main()

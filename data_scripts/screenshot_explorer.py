"""The AU explorer inside a notebook, in JupyterLab in a real browser: screenshots (not part of CI).

``data_scripts/check_explorer.py`` checks the standalone page (``make explore``, no trained run). This
script checks the explorer where a notebook shows it, by default notebook 09 with annotation mimic's
learned features (a second, feature-neighbour table): it starts JupyterLab headless on 127.0.0.1 on a
copy of the notebook (JupyterLab autosaves outputs; the committed notebook stays clean; data, caches
and runs are the checkout's), opens it in Debian's Chromium through Playwright, runs every cell (fast
profile), then clicks through the explorer: an AU combination, then a clip. It saves
``<out>/explorer.png`` (the AU combination) and ``<out>/explorer_clip.png`` (the clip) and fails,
naming the step, when the explorer does not render or does not react.

Set-up as for check_explorer.py (``apt-get install -y chromium``; ``pip install -e ".[explore,browser]"``)::

    .venv/bin/python data_scripts/screenshot_explorer.py [--notebook notebooks/09_visualization.ipynb] [--out docs/images]

``--notebook apps/au_explorer.ipynb`` runs the same clicks on the standalone page's notebook (seconds,
nothing to train), a quick check of the JupyterLab path.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from check_explorer import (EXPLORER, ROOT, free_port, in_browser, press_aus, pressed_aus, save_cropped, serve,
                            settle, step, table_rows, wait_for_change)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", default=str(ROOT / "notebooks" / "09_visualization.ipynb"))
    parser.add_argument("--aus", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the notebook to run in the browser")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("playwright is not installed: .venv/bin/pip install -e \".[explore,browser]\"")
    if not Path(args.chromium).is_file():
        sys.exit(f"no Chromium at {args.chromium}: apt-get update && apt-get install -y chromium")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jupyter_dir = Path(tempfile.mkdtemp(prefix="melib-jupyter-"))
    served = jupyter_dir / Path(args.notebook).parent.name  # the same folder name: the notebook's relative paths hold
    served.mkdir()
    shutil.copy(args.notebook, served)
    port = free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=",
               "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={served}", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    env = {**os.environ, "MELIB_PROFILE": "fast", "JUPYTER_RUNTIME_DIR": str(jupyter_dir)}
    step(f"JupyterLab on 127.0.0.1:{port} with a copy of {args.notebook}")
    with serve(command, port, args.timeout + 300, env, jupyter_dir / "server.log"), sync_playwright() as p:
        in_browser(p, args.chromium, {"width": 1400, "height": 2400},
                   lambda page: click_through(page, port, Path(args.notebook).name, args.aus, out, args.timeout),
                   out / "explorer_failure.png", jupyter_dir / "server.log")
    step("passed")


def click_through(page, port: int, name: str, aus: list[int], out: Path, timeout: float) -> None:
    """Run the notebook in the open JupyterLab page and click through its explorer, saving screenshots."""
    step(f"open {name} in JupyterLab")
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}", timeout=120_000)
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
    step("Run > Run All Cells (notebook 09 trains nothing after notebooks 04-07; else one fold per method)")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_selector("table.melib-neighbours", timeout=timeout * 1000)
    explorer = page.locator(EXPLORER).first
    explorer.scroll_into_view_if_needed()
    settle(page, explorer)
    before = table_rows(explorer)
    from melib.viz.explorer import au_label

    step(f"press {au_label(aus)}")
    press_aus(page, explorer, aus)
    rows = wait_for_change(page, explorer, before)
    if pressed_aus(explorer) != sorted(aus):
        raise RuntimeError(f"after pressing {au_label(aus)} the table shows {rows} with {pressed_aus(explorer)} pressed")
    if any(not set(map(int, r[2].split("+"))) & set(aus) for r in rows if r[2] != "-"):
        raise RuntimeError(f"a neighbour of {au_label(aus)} shares none of its AUs: {rows}")
    save_cropped(page, explorer, out / "explorer.png")
    step("pick the third clip of the dropdown")
    dropdown = explorer.locator("select").first
    third = dropdown.locator("option").nth(2).get_attribute("value")
    dropdown.select_option(value=third)
    wait_for_change(page, explorer, rows)
    if third not in explorer.inner_text():
        raise RuntimeError(f"the explorer did not show clip {third} after choosing it")
    save_cropped(page, explorer, out / "explorer_clip.png")
    for shot in ("explorer.png", "explorer_clip.png"):
        step(f"saved {out / shot} ({(out / shot).stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()

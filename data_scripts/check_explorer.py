"""Check the AU explorer app (``make explore``) in a real browser and save README's screenshot (not CI).

Serves ``apps/au_explorer.ipynb`` with Voila on a free port of 127.0.0.1, as ``make explore`` does (the
server is stopped when the script ends, and killed after ``--lifetime`` seconds whatever happens),
checks that it listens on 127.0.0.1 only, opens the page in Debian's Chromium through Playwright and:

1. waits for the explorer (its neighbour table and AU buttons);
2. presses the AU buttons of an AU combination (``--aus``, default AU1 + AU2 + AU25) and checks that the
   neighbour table changes to exactly the clips :func:`melib.viz.explorer.au_neighbours` ranks first
   for that combination, with only those buttons pressed;
3. saves ``<out>/au_explorer.png``: the explorer alone, cropped to it, with the pressed AUs, the query
   line, the table, the co-occurrence matrix and the thumbnails in view;
4. picks the third clip of the dropdown and checks the table again (the clip's own neighbours).

It exits non-zero, naming the step, when something does not render or react; the page as it was is
saved to ``<out>/au_explorer_failure.png``. Set-up, once per machine (no browser download: Playwright
drives Debian's Chromium)::

    apt-get update && apt-get install -y chromium
    .venv/bin/pip install -e ".[explore,browser]"     # voila and playwright, pinned in pyproject.toml

    .venv/bin/python data_scripts/check_explorer.py [--aus 1 2 25] [--dataset synthetic] [--out docs/images]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "apps" / "au_explorer.ipynb"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXPLORER = ".jp-OutputArea-output:has(table.melib-neighbours)"  # the explorer's output area (Voila and JupyterLab)


def step(name: str) -> None:
    print(f"[explorer check] {name}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before listening on port {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (Linux: /proc/net/tcp and tcp6; empty elsewhere)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port and len(address) == width:
                    found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # /proc stores 32-bit words little-endian
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def voila_command(port: int, notebook: Path = APP) -> list[str]:
    """The server ``make explore`` starts (keep the two in step)."""
    return [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
            "--VoilaConfiguration.show_tracebacks=True"]


@contextlib.contextmanager
def serve(command: Sequence[str], port: int, lifetime: float, env: dict[str, str], log: Path) -> Iterator[None]:
    """Run ``command`` until the block ends, and kill it after ``lifetime`` seconds in any case."""
    server = subprocess.Popen(list(command), env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                              cwd=ROOT, start_new_session=True)
    watchdog = threading.Timer(lifetime, server.kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        wait_for_port(port, 120, server)
        yield
    finally:
        watchdog.cancel()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def launch(playwright, chromium: str):
    """Debian's Chromium through Playwright (Playwright's own browser builds cannot be downloaded here)."""
    return playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)


def in_browser(playwright, chromium: str, viewport: dict, action, failure: Path, log: Path) -> None:
    """Open a page in :func:`launch`'s browser and run ``action(page)``; on an error, save the page as it was
    to ``failure`` and name it and the server's ``log`` before re-raising."""
    browser = launch(playwright, chromium)
    page = browser.new_page(viewport=viewport, device_scale_factor=1.5)
    try:
        action(page)
    except Exception:
        page.screenshot(path=str(failure), full_page=True)
        step(f"failed; the page as it was: {failure}; server log: {log}")
        raise
    finally:
        browser.close()


def settle(page, explorer, quiet_ms: int = 1500, timeout: float = 120) -> None:
    """Wait until the explorer's images stop changing (each redraw replaces their blob URLs)."""
    end, last, since = time.time() + timeout, None, time.time()
    while time.time() < end:
        now = explorer.locator("img").evaluate_all("els => els.map(e => e.src).join(' ')")
        if now != last:
            last, since = now, time.time()
        elif (time.time() - since) * 1000 >= quiet_ms:
            return
        page.wait_for_timeout(250)
    raise TimeoutError("the explorer's images kept changing")


def table_rows(explorer) -> list[list[str]]:
    """The label-neighbour table's rows as cell texts: rank, clip, AUs, emotion, score."""
    return explorer.locator("table.melib-neighbours").first.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))")


def pressed_aus(explorer) -> list[int]:
    texts = explorer.locator("button.mod-active").all_inner_texts()
    return sorted(int(t[2:]) for t in texts if re.fullmatch(r"AU\d+", t.strip()))


def wait_for_rows(page, explorer, clips: Sequence[str], timeout: float = 120) -> list[list[str]]:
    """Wait until the table lists ``clips`` in that order; return its rows."""
    end = time.time() + timeout
    rows: list[list[str]] = []
    while time.time() < end:
        rows = table_rows(explorer)
        if [r[1] for r in rows] == list(clips):
            settle(page, explorer)
            return rows
        page.wait_for_timeout(250)
    raise RuntimeError(f"the neighbour table shows {[r[1] for r in rows]}, expected {list(clips)}")


def wait_for_change(page, explorer, before: list[list[str]], timeout: float = 120) -> list[list[str]]:
    """Wait until the neighbour table differs from ``before`` and the images have settled; return its rows."""
    end = time.time() + timeout
    while time.time() < end:
        rows = table_rows(explorer)
        if rows != before:
            settle(page, explorer)
            return table_rows(explorer)
        page.wait_for_timeout(250)
    raise RuntimeError(f"the neighbour table did not change within {timeout:.0f} s: {before}")


def press_aus(page, explorer, aus: Sequence[int], timeout: float = 120) -> None:
    """Click AU buttons until exactly ``aus`` are pressed (a clip query starts with the clip's AUs
    pressed), then wait until the query line names them and the images have settled."""
    from melib.viz.explorer import au_names

    for a in sorted(set(pressed_aus(explorer)) ^ set(aus)):
        button = explorer.get_by_role("button", name=f"AU{a}", exact=True)
        if button.count() != 1:
            raise RuntimeError(f"no AU{a} button in the explorer (is AU{a} in the dataset?)")
        button.click()
        page.wait_for_timeout(300)
    line, end = f"query: {au_names(sorted(aus))}:", time.time() + timeout
    while line not in explorer.inner_text():
        if time.time() > end:
            raise RuntimeError(f"the query line never read {line!r}")
        page.wait_for_timeout(250)
    settle(page, explorer)


def save_cropped(page, element, path: Path, margin: int = 10) -> None:
    """Screenshot ``element`` with a white margin, no focus ring, in 256 colours (a README-sized PNG)."""
    from PIL import Image

    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    page.mouse.move(0, 0)
    box = element.bounding_box()
    clip = {"x": max(box["x"] - margin, 0), "y": max(box["y"] - margin, 0),
            "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin}
    page.screenshot(path=str(path), clip=clip, full_page=True)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    small.save(path, optimize=True)


def click_through(page, url: str, manifest, aus: Sequence[int], k: int, out: Path, timeout: float) -> None:
    from melib.viz.explorer import au_label, au_neighbours

    step(f"open {url}")
    page.goto(url, timeout=timeout * 1000)
    page.wait_for_selector("table.melib-neighbours", timeout=timeout * 1000)
    explorer = page.locator(EXPLORER).first
    settle(page, explorer)
    before = table_rows(explorer)
    step(f"the explorer is up: {len(before)} neighbours of clip {explorer.locator('select').first.input_value()}")
    step(f"press {au_label(aus)}")
    press_aus(page, explorer, aus)
    expected = list(au_neighbours(manifest, list(aus), k)["clip"])
    rows = wait_for_rows(page, explorer, expected)
    if rows == before:
        raise RuntimeError("the neighbour table did not change after choosing an AU combination")
    if pressed_aus(explorer) != sorted(aus):
        raise RuntimeError(f"pressed AU buttons {pressed_aus(explorer)}, expected {sorted(aus)}")
    step("table: " + "; ".join(f"{r[1]} AUs {r[2]} J={r[4]}" for r in rows))
    save_cropped(page, explorer, out / "au_explorer.png")
    step(f"saved {out / 'au_explorer.png'} ({(out / 'au_explorer.png').stat().st_size // 1024} KiB)")
    step("pick the third clip of the dropdown")
    dropdown = explorer.locator("select").first
    third = dropdown.locator("option").nth(2).get_attribute("value")
    dropdown.select_option(value=third)
    rows = wait_for_rows(page, explorer, list(au_neighbours(manifest, third, k)["clip"]))
    step(f"table for {third}: " + "; ".join(f"{r[1]} J={r[4]}" for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aus", type=int, nargs="+", default=[1, 2, 25], help="the AU combination to press")
    parser.add_argument("--dataset", default="synthetic", help="a dataset name or folder (as make explore's EXPLORE_DATASET)")
    parser.add_argument("--root", default="", help="the dataset's folder when --dataset is a name")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the page to show the explorer")
    parser.add_argument("--lifetime", type=float, default=900, help="seconds after which the server is killed")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("playwright is not installed: .venv/bin/pip install -e \".[explore,browser]\"")
    if shutil.which("voila", path=str(Path(sys.executable).parent)) is None:
        sys.exit("voila is not installed: .venv/bin/pip install -e \".[explore,browser]\" (or make explore once)")
    if not Path(args.chromium).is_file():
        sys.exit(f"no Chromium at {args.chromium}: apt-get update && apt-get install -y chromium")
    from melib.viz.explorer import load_clips

    manifest = load_clips(args.dataset, args.root)  # the page's own data, for the expected tables
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="melib-voila-")) / "voila.log"
    env = {**os.environ, "MELIB_PROFILE": "fast", "MELIB_EXPLORER_DATASET": args.dataset,
           "MELIB_EXPLORER_ROOT": args.root, "MELIB_EXPLORER_FEATURES": ""}
    step(f"serve {APP.relative_to(ROOT)} with Voila on 127.0.0.1:{port} (log {log}; killed after {args.lifetime:.0f} s)")
    with serve(voila_command(port), port, args.lifetime, env, log):
        bound = listening_addresses(port)
        if bound - {"127.0.0.1"}:
            raise RuntimeError(f"Voila listens on {sorted(bound)}, not on 127.0.0.1 only")
        step(f"listening on {sorted(bound) or ['127.0.0.1 (not checked: no /proc/net)']} only")
        with sync_playwright() as p:
            in_browser(p, args.chromium, {"width": 1100, "height": 2000},
                       lambda page: click_through(page, f"http://127.0.0.1:{port}/", manifest, args.aus, 4, out,
                                                  args.timeout),
                       out / "au_explorer_failure.png", log)
    step("passed")


if __name__ == "__main__":
    main()

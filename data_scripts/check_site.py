"""Check the built site (``make site``) in a real browser: every page, link, anchor and image (not CI).

Serves ``<outputs>/site`` on a localhost port (a bounded-lifetime ``http.server`` in a thread), opens
every HTML page of the site in Debian's Chromium through Playwright, and fails when

- a page or a linked file answers an HTTP error (404: a broken internal link),
- a link's ``#anchor`` names no element of its target page,
- an image does not load (a broken image).

Requests to anywhere but the local server are blocked (the MathJax CDN included: equations show as TeX
in the screenshots here). Saves one screenshot per page to ``<outputs>/site_screens/`` and, with
``--readme-shot``, a cropped one of a notebook page with a figure to ``docs/images/site.png``. Prints a
table of the pages checked.

Needs, once per machine (browser downloads are not possible here, so Playwright drives Debian's build)::

    apt-get update && apt-get install -y chromium
    make site                                   # installs the site extra (mkdocs, playwright) and builds

    .venv/bin/python data_scripts/check_site.py [--outputs outputs] [--readme-shot]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# after load: force lazy images to load, then report every link, every id/name and every image
PAGE_FACTS_JS = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; setTimeout(r, 5000); })));
  return {
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    anchors: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
    images: imgs.map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
  };
}"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no per-request lines
        pass


def serve(directory: Path, lifetime: float) -> tuple[http.server.ThreadingHTTPServer, int]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a daemon thread that stops after ``lifetime`` s."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    return server, server.server_address[1]


def site_pages(site: Path) -> list[str]:
    """Every HTML page of the built site, as URL paths (``index.html`` first; MkDocs' 404 page left out)."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if p.name != "404.html")
    return sorted(pages, key=lambda p: (p != "index.html", p.count("/") and not p.startswith("docs/"), p))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", default=os.environ.get("MELIB_OUTPUTS") or "outputs")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--lifetime", type=float, default=900, help="seconds the local server lives at most")
    parser.add_argument("--full-page", action="store_true", help="screenshots of whole pages, not the first screen")
    parser.add_argument("--readme-shot", action="store_true", help="also save docs/images/site.png")
    parser.add_argument("--shot-page", default="notebooks/03_optical_flow.html",
                        help="the page of the README screenshot (else the first notebook page with a figure)")
    args = parser.parse_args()
    outputs = (ROOT / args.outputs).resolve()
    site, screens = outputs / "site", outputs / "site_screens"
    if not (site / "index.html").is_file():
        sys.exit(f"no site at {site}: run make site first")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("playwright is not installed: make site installs it (.venv/bin/pip install -e \".[site]\")")
    if not Path(args.chromium).is_file():
        sys.exit(f"no Chromium at {args.chromium}: apt-get update && apt-get install -y chromium")
    screens.mkdir(parents=True, exist_ok=True)
    server, port = serve(site, args.lifetime)
    base = f"http://127.0.0.1:{port}/"
    t0 = time.time()
    rows, failures = [], []
    anchors: dict[str, set[str]] = {}
    wanted: list[tuple[str, str, str]] = []  # (page, target path, fragment) checked once every page is seen
    status: dict[str, int] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route(re.compile(r"^(?!http://127\.0\.0\.1:%d/)" % port), lambda route: route.abort())
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            for path in site_pages(site):
                t = time.time()
                errors.clear()
                resp = page.goto(base + path, wait_until="load", timeout=60_000)
                status[path] = resp.status if resp else 0
                facts = page.evaluate(PAGE_FACTS_JS)
                anchors[path] = set(facts["anchors"])
                bad_imgs = [i["src"][:80] for i in facts["images"] if not i["ok"]]
                n_links = 0
                for href in set(facts["links"]):
                    url, frag = urldefrag(href)
                    if not url.startswith(base):
                        continue
                    n_links += 1
                    target = unquote(urlparse(url).path.lstrip("/")) or "index.html"
                    if target.endswith("/"):
                        target += "index.html"
                    if target not in status:
                        r = context.request.get(base + target)
                        status[target] = r.status
                    if status[target] >= 400:
                        failures.append(f"{path}: link to {target} answers HTTP {status[target]}")
                    elif frag and target.endswith(".html"):
                        wanted.append((path, target, unquote(frag)))
                for src in bad_imgs:
                    failures.append(f"{path}: image does not load: {src}")
                if status[path] >= 400:
                    failures.append(f"{path}: HTTP {status[path]}")
                shot = screens / (path.replace("/", "__").removesuffix(".html") + ".png")
                page.screenshot(path=str(shot), full_page=args.full_page)
                rows.append([path, status[path], n_links, len(facts["images"]), len(bad_imgs), len(errors),
                             f"{time.time() - t:.1f}"])
            for path, target, frag in wanted:
                if target not in anchors:  # a page outside the crawl (e.g. the standalone report)
                    page.goto(base + target, wait_until="load")
                    anchors[target] = set(page.evaluate(PAGE_FACTS_JS)["anchors"])
                if frag not in anchors[target]:
                    failures.append(f"{path}: link to {target}#{frag}: no such anchor")
            if args.readme_shot:
                readme_shot(page, base, site, ROOT / "docs" / "images" / "site.png", args.shot_page)
            browser.close()
    finally:
        server.shutdown()
    header = ["page", "HTTP", "links", "images", "broken img", "JS errors", "s"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print(f"\n{len(rows)} pages, {sum(r[2] for r in rows)} internal links, {sum(r[3] for r in rows)} images checked "
          f"in {time.time() - t0:.0f} s; screenshots in {screens}")
    for f in dict.fromkeys(failures):
        print(f"FAIL {f}")
    print("site check: " + ("FAILED" if failures else "all pages, links, anchors and images OK"))
    return 1 if failures else 0


def readme_shot(page, base: str, site: Path, out: Path, prefer: str | None = None) -> None:
    """A cropped screenshot of a notebook page with a figure: navigation, section heading, code and figure.

    ``prefer`` names the page (e.g. ``notebooks/03_optical_flow.html``); else the first notebook page
    with a figure is used.
    """
    pages = sorted(p.relative_to(site).as_posix() for p in (site / "notebooks").glob("*.html"))
    if prefer in pages:
        pages.remove(prefer)
        pages.insert(0, prefer)
    for path in pages:
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.goto(base + path, wait_until="load")
        fig = page.locator(".jp-RenderedImage img").first
        if fig.count() == 0:
            continue
        # scroll straight down (scrolling up would show Material's "Back to top" button) so the section heading
        # above the figure sits under the site's header bar
        page.evaluate("""(img) => {
          const top = img.getBoundingClientRect().top + window.scrollY;
          const hs = Array.from(document.querySelectorAll('.md-content h2, .md-content h3'))
            .map(h => h.getBoundingClientRect().top + window.scrollY).filter(y => y < top && top - y < 700);
          window.scrollTo(0, (hs.length ? hs[hs.length - 1] : top - 200) - 70);
        }""", fig.element_handle())
        box = fig.bounding_box()
        height = min(1000, box["y"] + box["height"] + 20)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 1280, "height": height})
        print(f"README screenshot: {out} ({path})")
        return
    print("README screenshot: no notebook page with a figure (run make demo, then make site)")


if __name__ == "__main__":
    sys.exit(main())

"""The README's picture of the training report: parts of a run's report.html (summary, curves, misclassified
examples, Grad-CAM) as headless Chromium draws them, made small.

    python scripts/docs_report.py          # trains the default run first (LeNet-5 on Fashion-MNIST, under a minute)
    python scripts/docs_report.py RUN      # or shows a run folder's report.html (written again first)

Writes docs/report.png (needs Debian's chromium and chromium-driver: `sh scripts/get-chromium.sh`).
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

import striate
from striate.report import write_report

DOCS = Path(__file__).resolve().parents[1] / "docs"
WIDTH = 1200
"""The browser window's width; the README shows the picture at 760 pixels."""
PARTS = ("header", "#summary", "#curves", "#misclassified", "#gradcam")
"""What the picture shows, one under the other: CSS selectors of the page's parts."""


def screenshot(page: Path) -> Image.Image:
    """The page's `PARTS`, cut from one screenshot of the whole page in headless Chromium, stacked."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        sys.exit("chromium is not installed: run `sh scripts/get-chromium.sh` (apt-get install chromium "
                 "chromium-driver).")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--window-size={WIDTH},900",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='striate-')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(page.resolve().as_uri())
        driver.set_window_size(WIDTH, driver.execute_script("return document.documentElement.scrollHeight;"))
        whole = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        spans = [driver.execute_script(f"const r = document.querySelector('{part}').getBoundingClientRect(); "
                                       "return [r.top, r.bottom];") for part in PARTS]
    finally:
        driver.quit()
    pieces = [whole.crop((0, max(0, round(top) - 7), whole.width, round(bottom) + 7)) for top, bottom in spans]
    canvas = Image.new("RGB", (whole.width, sum(piece.height for piece in pieces)))
    for index, piece in enumerate(pieces):
        canvas.paste(piece, (0, sum(p.height for p in pieces[:index])))
    return canvas.resize((760, round(canvas.height * 760 / canvas.width)), Image.LANCZOS)


def main() -> None:
    if len(sys.argv) == 2:
        run = striate.load(sys.argv[1])
        write_report(run)
    else:
        run = striate.train(out=tempfile.mkdtemp(prefix="striate-docs-"), quiet=True)
    picture = screenshot(run.path / "report.html")
    target = DOCS / "report.png"
    picture.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    print(f"{target}: {target.stat().st_size / 1024:.0f} KB, from {run.path / 'report.html'}")


if __name__ == "__main__":
    main()

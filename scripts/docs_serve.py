"""The README's picture of the service's page: a Fashion-MNIST test image uploaded, its top-5 bars and the Grad-CAM
overlay, as headless Chromium draws them.

    python scripts/docs_serve.py RUN       # a Fashion-MNIST image run (e.g. runs/lenet5-fashion-mnist)

Starts `striate serve RUN` on a free loopback port, uploads the first test image of class "Sneaker", and writes
docs/serve.png (needs Debian's chromium and chromium-driver: `sh scripts/get-chromium.sh`).
"""

from __future__ import annotations

import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from striate.serve.loadtest import start_server, stop_server

DOCS = Path(__file__).resolve().parents[1] / "docs"
FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASS = 7  # Sneaker


def main(run: str) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with gzip.open(FASHION / "t10k-images-idx3-ubyte.gz") as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)
    folder = Path(tempfile.mkdtemp())
    picture = folder / "sneaker.png"
    Image.fromarray(images[int(np.argmax(labels == CLASS))]).save(picture)
    server, url = start_server(run)
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,680", "--hide-scrollbars",
                     f"--user-data-dir={folder / 'profile'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            driver.get(f"{url}/")
            wait = WebDriverWait(driver, 30)
            wait.until(lambda d: d.find_element(By.ID, "status").text == "ready")
            driver.find_element(By.ID, "file").send_keys(str(picture))
            wait.until(lambda d: d.execute_script("const h = document.getElementById('heatmap'); "
                                                  "return h.complete && h.naturalWidth > 0;"))
            time.sleep(0.3)
            shot = folder / "page.png"
            driver.save_screenshot(str(shot))
        finally:
            driver.quit()
        with Image.open(shot) as image:
            image.convert("RGB").resize((900, 510), Image.Resampling.LANCZOS).save(DOCS / "serve.png", optimize=True)
        print(DOCS / "serve.png")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/lenet5-fashion-mnist")

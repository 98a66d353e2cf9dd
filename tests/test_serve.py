"""The HTTP service: predictions equal `Run.predict`, explanations equal `striate.explain`, every kind of bad request
gets its 4xx with a one-line JSON error, the batcher's contract, API keys, and the real server end to end (bad
requests mixed into concurrent load, generated requests from its own OpenAPI schema, the page in Chromium)."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import shutil
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import striate
from striate.errors import ConfigError

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx's successor
    from fastapi.testclient import TestClient

from striate.serve import Settings, create_app
from striate.serve.app import serve
from striate.serve.batching import Batcher, Busy
from striate.serve.loadtest import (
    Body,
    malformed_bodies,
    multipart,
    png,
    run_load,
    start_server,
    stop_server,
)

KEY = "a-test-key-of-24-chars!!"


@pytest.fixture(scope="module")
def lenet(fashion_lenet):
    """LeNet-5 trained 2 epochs on 3,000 Fashion-MNIST images (about 80% test accuracy)."""
    return fashion_lenet


@pytest.fixture(scope="module")
def images(fashion_arrays):
    """The first 16 Fashion-MNIST test images as PNG bytes, with their labels."""
    _, _, test_x, test_y = fashion_arrays
    return [png(image) for image in test_x[:16]], test_y[:16]


@pytest.fixture(scope="module")
def client(lenet):
    with TestClient(create_app(Settings(str(lenet.path), engine="onnx"))) as client:
        yield client


def files(blobs: list[bytes]) -> list:
    return [("files", (f"{i}.png", blob, "image/png")) for i, blob in enumerate(blobs)]


def probabilities(answer: dict, classes: list[str]) -> np.ndarray:
    """(N, K) probabilities from predictions asked with top_k = K."""
    rows = []
    for prediction in answer["predictions"]:
        found = {item["label"]: item["probability"] for item in prediction["top"]}
        rows.append([found[name] for name in classes])
    return np.array(rows)


# --- predictions --------------------------------------------------------------------------------------------------


def test_predictions_equal_the_runs_own_for_every_way_of_sending_images(lenet, client, images, tmp_path):
    blobs, _ = images
    paths = []
    for i, blob in enumerate(blobs[:6]):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(blob)
    run = striate.load(lenet.path)
    expected = run.predict_proba(torch.stack([torch.from_numpy(np.array(Image.open(p)))[None] for p in paths]))
    classes = run.classes
    pixels = [np.asarray(Image.open(p)).tolist() for p in paths]
    answers = {
        "multipart": client.post("/v1/predict?top_k=10", files=files(blobs[:6])),
        "json pixels (H, W)": client.post("/v1/predict?top_k=10", json={"inputs": pixels}),
        "json pixels (C, H, W)": client.post("/v1/predict?top_k=10", json={"inputs": [[p] for p in pixels]}),
        "json base64": client.post("/v1/predict?top_k=10", json={
            "inputs": [base64.b64encode(b).decode() for b in blobs[:3]]
            + [f"data:image/png;base64,{base64.b64encode(b).decode()}" for b in blobs[3:6]]}),
    }
    for how, answer in answers.items():
        assert answer.status_code == 200, how
        found = probabilities(answer.json(), classes)
        assert np.abs(found - expected.numpy()).max() < 1e-5, how
    body = client.post("/v1/predict?top_k=3", content=blobs[0], headers={"Content-Type": "image/png"}).json()
    assert [item["label"] for item in body["predictions"][0]["top"]] == [
        classes[i] for i in expected[0].argsort(descending=True)[:3]]
    assert body["engine"] == "onnx" and body["run"] == lenet.path.name
    assert answers["multipart"].json()["predictions"][2]["source"] == "files[2] 2.png"


def test_an_image_of_another_size_and_colour_is_converted_and_said_so(client):
    rgb = png(np.full((56, 40, 3), 200, dtype=np.uint8))
    (prediction,) = client.post("/v1/predict", files=files([rgb])).json()["predictions"]
    assert prediction["notes"] == ["converted RGB to L", "resized 40x56 to 28x28"]


def test_the_model_endpoint_describes_the_run(lenet, client):
    described = client.get("/v1/model").json()
    assert described["classes"] == striate.load(lenet.path).classes
    assert described["architecture"] == "lenet5" and described["input"]["shape"] == [1, 28, 28]
    assert described["input"]["dtype"] == "uint8" and "multipart/form-data" in described["input"]["media_types"]
    assert described["metrics"]["accuracy"] == pytest.approx(lenet.results["test_accuracy"])
    assert described["parameters"] == sum(p.numel() for p in lenet.model.parameters())
    assert described["explain"]["available"] and described["engine"] == "onnx"
    assert client.get("/healthz").json() == {"status": "ok"}


def test_the_page_and_the_openapi_schema_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="draw"' in page.text and "v1/explain" in page.text
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/png", "application/json"} <= set(content)
    assert set(schema["paths"]["/v1/predict"]["post"]["responses"]) >= {"200", "400", "413", "415", "422", "503"}


# --- explanations -------------------------------------------------------------------------------------------------


def test_explanations_equal_grad_cam_of_the_explain_module(lenet, client, images):
    blobs, _ = images
    run = striate.load(lenet.path)
    x = torch.stack([torch.from_numpy(np.array(Image.open(io.BytesIO(b))))[None] for b in blobs[:2]])
    reference = striate.explain.explain(run, x, "gradcam")
    answer = client.post("/v1/explain?format=json", files=files(blobs[:2])).json()
    for index, found in enumerate(answer["explanations"]):
        heat = reference.attributions[index, 0]
        assert np.abs(np.array(found["heatmap"]) - (heat / heat.max()).numpy()).max() < 1e-4
        assert found["target"] == run.classes[int(reference.targets[index])]
        assert found["layer"] == reference.layer
        assert Image.open(io.BytesIO(base64.b64decode(found["png"]))).size == (28, 28)
    shirt = client.post("/v1/explain?format=json&target=Shirt", files=files(blobs[:1])).json()
    assert shirt["explanations"][0]["target"] == "Shirt"
    picture = client.post("/v1/explain", files=files(blobs[:1]))
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert picture.headers["x-target"] == answer["explanations"][0]["target"]
    image = Image.open(io.BytesIO(picture.content))
    assert image.size == (28, 28) and image.mode == "RGB"
    # the hottest pixel is drawn in jet's hottest colour (dark red), the coldest in its coldest (dark blue)
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    heat = np.array(answer["explanations"][0]["heatmap"]).reshape(-1)
    assert pixels[heat.argmax()][0] > 100 and pixels[heat.argmax()][2] < 50
    assert pixels[heat.argmin()][2] > 100 and pixels[heat.argmin()][0] < 50


# --- refusals -----------------------------------------------------------------------------------------------------


def bad_requests(images) -> list[tuple[str, dict, int, str]]:
    blobs, _ = images
    ok = blobs[0]
    return [
        ("undecodable image", {"files": files([b"not an image at all"])}, 400, r"Cannot decode image 0\.png"),
        ("empty file", {"files": files([b""])}, 400, r"Empty image 0\.png: expected the bytes"),
        ("truncated PNG", {"files": files([ok[: len(ok) // 2]])}, 400, "Cannot decode image"),
        ("wrong array shape", {"json": {"inputs": [np.zeros((28, 27)).tolist()]}}, 400,
         r"expected a base64 image or a pixel array of shape \(1, 28, 28\) or \(28, 28\), received shape \(28, 27\)"),
        ("ragged array", {"json": {"inputs": [[[1, 2], [3]]]}}, 400, "nested lists of unequal lengths"),
        ("pixel out of range", {"json": {"inputs": [np.full((28, 28), 256).tolist()]}}, 400,
         "expected pixel values from 0 to 255, received values from 256 to 256"),
        ("a number for an image", {"json": {"inputs": [3]}}, 400, r"received a number"),
        ("not base64", {"json": {"inputs": ["%%%"]}}, 400, "not base64"),
        ("broken JSON", {"content": b'{"inputs": [', "headers": {"Content-Type": "application/json"}}, 400,
         "Invalid JSON body"),
        ("JSON without inputs", {"json": {"images": []}}, 400, "found an object with keys images"),
        ("no inputs", {"json": {"inputs": []}}, 400, "No inputs: expected at least one image"),
        ("too many inputs (JSON)", {"json": {"inputs": [[0]] * 65}}, 413,
         "expected at most 64 per request, received 65"),
        ("too many inputs (files)", {"files": files([ok] * 65)}, 413, "expected at most 64"),
        ("text for an image model", {"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415,
         r"expects one of multipart/form-data, .*received `text/plain`"),
        ("no content type", {"content": b"hello"}, 415, "received no Content-Type"),
        ("bad top_k", {"json": {"inputs": []}, "params": {"top_k": "many"}}, 422, r"Invalid query parameter `top_k`"),
        ("top_k zero", {"json": {"inputs": []}, "params": {"top_k": 0}}, 422, "greater than or equal to 1"),
    ]


def test_every_bad_request_gets_its_status_and_a_one_line_json_error_and_serving_goes_on(client, images):
    for name, request, status, message in bad_requests(images):
        answer = client.post("/v1/predict", **request)
        assert answer.status_code == status, (name, answer.text)
        body = answer.json()
        assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in body["error"], name
        assert re.search(message, body["error"]), (name, body["error"])
    assert client.get("/nowhere").status_code == 404 and client.get("/v1/predict").status_code == 405
    assert client.post("/v1/explain", files=files(images[0][:2])).json()["error"].startswith(
        "A PNG heatmap is drawn for one image: expected one image, received 2 inputs")
    assert client.post("/v1/explain?target=Spaceship", files=files(images[0][:1])).status_code == 400
    assert client.post("/v1/predict", files=files(images[0][:1])).status_code == 200
    stats = client.get("/v1/stats").json()
    assert stats["refused"] >= len(bad_requests(images)) and stats["failed"] == 0


def test_a_body_over_the_size_limit_is_refused_before_it_is_read(lenet, images):
    app = create_app(Settings(str(lenet.path), engine="torch", max_upload_mb=0.001))  # 1,048 bytes
    with TestClient(app) as small:
        big = png(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
        answer = small.post("/v1/predict", files=files([big]))
        assert answer.status_code == 413 and "Request body too large: expected at most 1,048 bytes" in answer.json()[
            "error"]
        assert small.post("/v1/predict", files=files([images[0][0]])).status_code == 200  # 300-odd bytes


def test_a_request_over_the_time_limit_gets_503_and_the_service_recovers(lenet, images):
    app = create_app(Settings(str(lenet.path), engine="torch", timeout_s=0.2))
    with TestClient(app) as slow:
        batcher = _batcher_of(app)
        original = batcher.forward
        batcher.forward = lambda x: (time.sleep(0.5), original(x))[1]
        answer = slow.post("/v1/predict", files=files([images[0][0]]))
        assert answer.status_code == 503 and "longer than the time limit of 0.2 s" in answer.json()["error"]
        batcher.forward = original
        time.sleep(0.4)  # the abandoned pass finishes on the worker thread
        assert slow.post("/v1/predict", files=files([images[0][0]])).status_code == 200


def _batcher_of(app) -> Batcher:
    """The batcher the app's routes use (found through the route's closure)."""
    for route in app.routes:
        if getattr(route, "path", None) == "/v1/predict":
            cells = {name: cell.cell_contents for name, cell in zip(
                route.endpoint.__code__.co_freevars, route.endpoint.__closure__ or (), strict=True)}
            return cells["service"].batcher
    raise AssertionError("no /v1/predict route")


# --- other kinds of runs ------------------------------------------------------------------------------------------


def test_series_runs_take_json_arrays_and_text_runs_take_sentences(tmp_path):
    series = striate.train(data="ucr:GunPoint", model="fcn", epochs=1, batch_size=16, out=str(tmp_path),
                           model_args={"channels": [8, 8, 8]}, name="series", quiet=True)
    run = striate.load(series.path)
    with TestClient(create_app(Settings(str(series.path), engine="torch"))) as client:
        values = np.sin(np.linspace(0, 6, 150)).round(4)
        answer = client.post("/v1/predict", json={"inputs": [values.tolist(), [values.tolist()]]})
        assert answer.status_code == 200
        expected = run.predict([values, values[None]], top_k=2)
        for found, wanted in zip(answer.json()["predictions"], expected, strict=True):
            assert [t["label"] for t in found["top"]][:2] == [label for label, _ in wanted["top"]]
            assert found["top"][0]["probability"] == pytest.approx(wanted["top"][0][1], abs=1e-6)
        assert client.post("/v1/predict", json={"inputs": [[[1.0], [2.0]]]}).json()["error"].startswith(
            "Invalid series of shape (2, 1)")
        assert client.post("/v1/predict", files=files([b"x"])).status_code == 415
        assert client.post("/v1/explain?format=png", json={"inputs": [values.tolist()]}).status_code == 400
        heat = client.post("/v1/explain?format=json", json={"inputs": [values.tolist()]}).json()
        assert len(heat["explanations"][0]["heatmap"]) == 150
    corpus = tmp_path / "text.txt"
    corpus.write_text("\n".join(f"{i % 2} " + ("the cat sat on the mat" if i % 2 else "a dog ran in the park")
                                for i in range(80)))
    text = striate.train(data=f"text:{corpus}", model="textcnn", epochs=1, batch_size=16, out=str(tmp_path),
                         model_args={"embedding_dim": 8, "out_channels": 4}, name="text", quiet=True)
    with TestClient(create_app(Settings(str(text.path), engine="torch"))) as client:
        plain = client.post("/v1/predict", content=b"the cat sat", headers={"Content-Type": "text/plain"})
        listed = client.post("/v1/predict", json={"inputs": ["the cat sat", "a dog"]})
        assert plain.status_code == listed.status_code == 200
        (alone,), (first, _) = plain.json()["predictions"], listed.json()["predictions"]
        assert [t["label"] for t in alone["top"]] == [t["label"] for t in first["top"]]
        assert alone["top"][0]["probability"] == pytest.approx(first["top"][0]["probability"], abs=1e-6)
        assert client.post("/v1/predict", json={"inputs": [3]}).json()["error"] == (
            "Invalid inputs[0]: expected a sentence (a string), received a number.")
        assert client.post("/v1/predict", json={"inputs": ["   "]}).status_code == 400


# --- batching -----------------------------------------------------------------------------------------------------


def test_the_batcher_combines_concurrent_requests_without_splitting_or_mixing_them():
    passes = []

    def forward(x):
        passes.append(len(x))
        time.sleep(0.02)
        return x * 2

    async def scenario():
        executor = ThreadPoolExecutor(1)
        batcher = Batcher(forward, executor, max_batch=8, delay=0.05)
        batcher.start()
        sizes = [1, 3, 2, 5, 1, 4, 2, 1]

        async def one(number, size):
            with batcher.arriving_request():
                await asyncio.sleep(0.001 * number)
                x = torch.full((size, 2), float(number))
                return x, await batcher.submit(x)

        results = await asyncio.gather(*(one(i, s) for i, s in enumerate(sizes)))
        await batcher.stop()
        executor.shutdown()
        return sizes, results, batcher

    sizes, results, batcher = asyncio.run(scenario())
    for x, y in results:
        assert torch.equal(y, x * 2)  # each request gets its own rows back
    assert sum(passes) == sum(sizes) and len(passes) < len(sizes)  # fewer passes than requests
    assert all(size <= 8 for size in passes)  # never over max_batch (no single request is larger)
    assert batcher.passes == len(passes) and batcher.batched_inputs == sum(sizes)


def test_a_lone_request_does_not_wait_for_the_batch_delay_and_a_failure_reaches_every_waiting_request():
    async def scenario():
        executor = ThreadPoolExecutor(1)
        batcher = Batcher(lambda x: x + 1, executor, max_batch=64, delay=60.0)
        batcher.start()
        with batcher.arriving_request():
            alone = await asyncio.wait_for(batcher.submit(torch.zeros(2, 1)), 10)  # a 60 s wait would time out
        failing = Batcher(lambda x: 1 / 0, executor, max_batch=64, delay=0.01)
        failing.start()
        outcomes = await asyncio.gather(failing.submit(torch.zeros(1, 1)), failing.submit(torch.zeros(1, 1)),
                                        return_exceptions=True)
        after = await asyncio.wait_for(batcher.submit(torch.ones(1, 1)), 10)
        full = Batcher(lambda x: x, executor, max_queue=3)
        with pytest.raises(Busy, match="the most is 3"):
            await full.submit(torch.zeros(4, 1))
        await batcher.stop()
        await failing.stop()
        executor.shutdown()
        return alone, outcomes, after

    alone, outcomes, after = asyncio.run(scenario())
    assert torch.equal(alone, torch.ones(2, 1)) and torch.equal(after, torch.full((1, 1), 2.0))
    assert all(isinstance(outcome, ZeroDivisionError) for outcome in outcomes)


# --- API keys -----------------------------------------------------------------------------------------------------


def test_an_api_key_guards_everything_but_healthz_and_a_browser_logs_in_once(lenet):
    with TestClient(create_app(Settings(str(lenet.path), engine="torch", api_key=KEY)), follow_redirects=False) as c:
        assert c.get("/healthz").status_code == 200
        for path in ("/", "/v1/model", "/openapi.json", "/docs"):
            refused = c.get(path)
            assert refused.status_code == 401 and "Missing or wrong API key" in refused.json()["error"], path
        assert c.get("/v1/model", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert c.get("/v1/model", headers={"X-API-Key": KEY}).status_code == 200
        assert c.get("/v1/model", headers={"X-API-Key": KEY[:-1] + "?"}).status_code == 401
        assert c.get("/", params={"api_key": "wrong-key-wrong-key"}).status_code == 401
        login = c.get("/", params={"api_key": KEY})
        assert login.status_code == 303 and login.headers["location"] == "/"
        assert "HttpOnly" in login.headers["set-cookie"] and "SameSite=Strict" in login.headers["set-cookie"]
        assert c.get("/v1/model").status_code == 200  # the cookie now carries the key
    with pytest.raises(ConfigError, match=r"Refusing to serve on 0\.0\.0\.0 without an API key"):
        serve(Settings(str(lenet.path)), host="0.0.0.0")
    with pytest.raises(ConfigError, match="expected at least 16 characters, received 5"):
        serve(Settings(str(lenet.path), api_key="short"), host="0.0.0.0")


# --- the real server ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(lenet):
    process, url = start_server(lenet.path)
    yield process, url
    stop_server(process)


@pytest.mark.slow
def test_the_real_server_answers_concurrent_load_with_malformed_requests_mixed_in(lenet, server, images):
    process, url = server
    blobs, _ = images
    run = striate.load(lenet.path)
    tops = [run.predict([Image.open(io.BytesIO(blob))], top_k=1)[0]["top"][0][0] for blob in blobs]
    valid = [Body(*multipart([(f"{i}.png", blob)]), top=top) for i, (blob, top) in enumerate(zip(blobs, tops,
                                                                                                   strict=True))]
    warm = run_load(url, valid, requests=100, clients=4)
    load = run_load(url, valid, malformed_bodies((1, 28, 28), 64), requests=600, clients=8, malformed_share=0.2,
                    pid=process.pid)
    assert warm.wrong == [] and load.wrong == [], load.wrong[:3]
    assert load.statuses[200] == load.requests - load.malformed and load.malformed > 60
    assert sum(count for status, count in load.statuses.items() if 400 <= status < 500) == load.malformed
    before, after = load.rss_mb
    assert after - before < 30, f"server memory grew from {before:.0f} to {after:.0f} MiB over 600 requests"


@pytest.mark.slow
def test_the_command_serves_with_several_workers_and_stops_on_ctrl_c(lenet, images):
    process, url = start_server(lenet.path, "--workers", "2", "--engine", "torch")
    try:
        valid = [Body(*multipart([("0.png", images[0][0])]),
                      top=striate.load(lenet.path).predict([Image.open(io.BytesIO(images[0][0]))])[0]["top"][0][0])]
        assert run_load(url, valid, requests=40, clients=4).wrong == []
    finally:
        output = stop_server(process)
    assert process.returncode == 0, output
    assert "Serving" in output and output.count("Application startup complete") == 2  # one model per worker


@pytest.mark.slow
def test_requests_generated_from_the_openapi_schema_never_get_a_server_error(server):
    """Schemathesis' own runner (its pytest plugin does not load under pytest 9): coverage and fuzzing phases over
    every operation of the running server's schema, no 5xx, every status and body as the schema documents."""
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or pytest.skip("schemathesis is not installed")
    _, url = server
    done = subprocess.run([st, "run", f"{url}/openapi.json", "--checks", "not_a_server_error,status_code_conformance,"
                           "content_type_conformance,response_schema_conformance", "--max-examples", "100",
                           "--seed", "1", "--no-color"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    generated = int(re.search(r"(\d+) generated, \1 passed", done.stdout).group(1))
    assert generated >= 200 and "5 selected / 5 total" in done.stdout


# --- the page in a browser ----------------------------------------------------------------------------------------


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1200,900"]


@pytest.mark.slow
def test_the_page_in_chromium_shows_the_right_class_and_the_heatmap(lenet, server, fashion_arrays, tmp_path):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("chromium is not installed: run `sh scripts/get-chromium.sh` (apt-get install chromium "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, url = server
    _, _, test_x, test_y = fashion_arrays
    run = striate.load(lenet.path)
    probabilities = run.predict_proba(torch.from_numpy(test_x[:100].copy()).unsqueeze(1))
    confident = [i for i in range(100) if probabilities[i].argmax() == test_y[i] and probabilities[i].max() > 0.9]
    index = confident[0]  # a test image the model classifies right, so the page's answer is the true class
    picture = tmp_path / "item.png"
    picture.write_bytes(png(test_x[index]))

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(url + "/")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_element(By.ID, "status").text == "ready")
        driver.find_element(By.ID, "file").send_keys(str(picture))
        wait.until(lambda d: d.execute_script(
            "const h = document.getElementById('heatmap'); return h.complete && h.naturalWidth > 0 && "
            "!h.classList.contains('hidden');"))
        labels = [element.text for element in driver.find_elements(By.CSS_SELECTOR, "#top .bar .label")]
        heat_width = driver.execute_script("return document.getElementById('heatmap').naturalWidth;")
        shown = driver.execute_script("return document.getElementById('heatmap').getBoundingClientRect().width;")
        driver.save_screenshot(str(tmp_path / "page.png"))
        # drawing: a stroke on the canvas, then "Predict drawing" replaces the bars with the drawing's prediction
        canvas = driver.find_element(By.ID, "draw")
        ActionChains(driver).move_to_element_with_offset(canvas, -60, -60).click_and_hold().move_by_offset(
            120, 120).release().perform()
        driver.find_element(By.ID, "predict-drawing").click()
        wait.until(lambda d: d.execute_script("return performance.getEntriesByType('resource').filter("
                                              "e => e.name.includes('v1/predict')).length") >= 2)
        drawn = [element.text for element in driver.find_elements(By.CSS_SELECTOR, "#top .bar .label")]
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    finally:
        driver.quit()
    print(f"\nscreenshot of the page: {tmp_path / 'page.png'}")
    assert len(labels) == 5 and labels[0] == run.classes[int(test_y[index])]
    assert heat_width == 28 and shown >= 200  # the 28x28 map is drawn over the 280-pixel view
    assert len(drawn) == 5 and set(drawn) <= set(run.classes)  # the drawing got its own prediction's bars
    assert errors == []

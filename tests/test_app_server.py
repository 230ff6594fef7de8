"""The app as users reach it: `python app.py`, a served page driven through gradio_client, the Space metadata."""

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError
from helpers import free_port
from PIL import Image

from sam_demo.app import session as sessions
from sam_demo.app.click_route import CLICK_PATH
from sam_demo.app.ui import (
    MAX_SESSIONS,
    MAX_WAITING_PER_SESSION,
    build_demo,
    configure_queue,
    example_images,
    launch,
)
from sam_demo.app.uploads import MAX_UPLOAD_BYTES
from sam_demo.core.image_io import load_image

ROOT = Path(__file__).resolve().parents[1]

# The README's example for programs ("Use from a program"); a test below runs it against a launched app.
README_SNIPPET = """\
from gradio_client import Client, handle_file

client = Client("http://127.0.0.1:7860/")  # or "USER/NAME" for the Space
mask_png, iou_scores = client.predict(
    image=handle_file("examples/phantom_0.png"),
    points=[[240, 180]],  # (x, y) in image pixels
    labels=[1],  # 1 = tumour, 0 = background
    box=None,  # or [x0, y0, x1, y1]
    multimask=True,  # three candidates, the one with the highest predicted IoU returned
    api_name="/segment",
)
print(mask_png, iou_scores)  # a PNG file (0 / 255) at the image's size; one predicted IoU per candidate
"""


def test_help_lists_the_flags():
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for flag in ("--model", "--host", "--port", "--share", "--cache-size"):
        assert flag in result.stdout


def test_unreachable_model_fails_with_one_clear_message(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "app.py", "--model", "someone/never-downloaded-sam"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode != 0
    assert "Cannot start the app" in result.stderr and "pass its folder" in result.stderr
    assert "Traceback" not in result.stderr


def serve(predictor) -> tuple:
    """The page launched as app.py launches it (upload limit, sessions kept, queue limits) on a free port."""
    demo = configure_queue(build_demo(predictor, "tiny random SAM (tests)"))
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    return demo, url.rstrip("/")


@pytest.fixture(scope="module")
def server(predictor):
    demo, url = serve(predictor)
    yield demo, url
    demo.close()


@pytest.fixture(scope="module")
def app_url(server):
    return server[1]


@pytest.fixture(scope="module")
def client(app_url, tmp_path_factory):
    return Client(app_url, verbose=False, download_files=str(tmp_path_factory.mktemp("client-downloads")))


def served_image(app_url: str, address: str) -> np.ndarray:
    """An image of the canvas, fetched from the server at its address (relative to the page)."""
    response = httpx.get(f"{app_url}/{address}", timeout=30)
    assert response.status_code == 200, address
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_upload_through_the_api(client, app_url):
    example = example_images()[1]
    # The canvas; then, as the page asks once it shows it, the candidates, summary and (empty until asked for)
    # downloads. The session stays on the server.
    canvas = client.predict(handle_file(example), api_name="/load_image")
    shown = served_image(app_url, canvas["base"])
    assert shown.shape == np.asarray(Image.open(example).convert("RGB")).shape and canvas["layer"] is None
    candidates, summary, *downloads = client.predict(api_name="/details")
    assert candidates is None or candidates == []
    assert "Click on the tumour" in summary and all(not update.get("value") for update in downloads), downloads
    assert client.predict(api_name="/clear")["base"] == canvas["base"]
    assert client.predict(api_name="/details")[1] == "Click on the tumour (or draw a box)."


def click(app_url: str, session_hash: str, x: int, y: int, **changes) -> httpx.Response:
    """What the page posts to the click route for a click on display pixel (x, y)."""
    body = dict(session_hash=session_hash, x=x, y=y, mode=sessions.POSITIVE, candidate_mode=sessions.AUTO)
    body.update(mask_feedback=False, **changes)
    return httpx.post(f"{app_url}{CLICK_PATH}", json=body, timeout=60)


def test_a_click_by_the_click_route_answers_with_the_layer_and_is_kept_in_the_session(app_url, tmp_path):
    client = Client(app_url, verbose=False, download_files=str(tmp_path))
    example = example_images()[0]
    canvas = client.predict(handle_file(example), api_name="/load_image")
    response = click(app_url, client.session_hash, 100, 80)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    layer = Image.open(io.BytesIO(response.content))
    assert layer.mode == "P" and np.asarray(layer.convert("RGBA"))[..., 3].any()  # a byte per pixel
    # Less than the image shown, even with the tiny model's random mask (fine noise all over the image).
    assert len(response.content) < len(httpx.get(f"{app_url}/{canvas['base']}").content)
    assert re.fullmatch(r"left:[0-9.]+%;top:[0-9.]+%;width:[0-9.]+%;height:[0-9.]+%", response.headers["x-layer-style"])
    # The session on the server has the click: the page's next event (its details, an undo) sees it.
    assert "Predicted IoU" in client.predict(api_name="/details")[1]
    assert client.predict(api_name="/undo")["layer"] is None  # back to no prompt
    # The same click on the same prompts gives the same layer; Next lesion keeps its mask in the image itself.
    assert click(app_url, client.session_hash, 100, 80).content == response.content
    sent = served_image(app_url, client.predict(api_name="/next_lesion")["base"])
    assert not np.array_equal(sent, served_image(app_url, canvas["base"]))  # the first lesion, now in the image


def test_the_click_route_refuses_what_it_does_not_handle_and_gradio_does(app_url, tmp_path):
    client = Client(app_url, verbose=False, download_files=str(tmp_path))
    assert click(app_url, "never-seen", 10, 10).status_code == 409  # no such tab
    client.predict(handle_file(example_images()[0]), api_name="/load_image")
    assert click(app_url, client.session_hash, 10_000, 10).status_code == 422  # outside the image
    assert click(app_url, client.session_hash, 10, 10, mode="erase").status_code == 400
    assert httpx.post(f"{app_url}{CLICK_PATH}", content=b"{" * 5000, timeout=30).status_code == 413
    box = sessions.BOX
    assert click(app_url, client.session_hash, 10, 10, mode=box).status_code == 200  # the first corner
    assert click(app_url, client.session_hash, 10, 10, mode=box).status_code == 422  # a box without area
    assert client.predict(api_name="/details")[1] == "Click the other corner of the box."


def test_a_click_crossed_by_an_event_of_the_page_does_not_overwrite_it(app_url, tmp_path, predictor, monkeypatch):
    """The page's Undo (here Clear all) lands while the route decodes a click: the route must not write its session
    over the event's, and says so (the page then shows the session as it is instead of resending the click)."""
    client = Client(app_url, verbose=False, download_files=str(tmp_path))
    client.predict(handle_file(example_images()[0]), api_name="/load_image")
    assert click(app_url, client.session_hash, 100, 80).status_code == 200
    decode = predictor.decode

    def decode_while_the_page_clears(*args, **kwargs):
        monkeypatch.setattr(predictor, "decode", decode)  # once
        client.predict(api_name="/clear")  # another request, served while this click decodes
        return decode(*args, **kwargs)

    monkeypatch.setattr(predictor, "decode", decode_while_the_page_clears)
    response = click(app_url, client.session_hash, 60, 40)
    assert response.status_code == 409 and response.json()["detail"] == "session changed"
    assert client.predict(api_name="/details")[1] == "Click on the tumour (or draw a box)."  # cleared, as shown


def test_bad_upload_is_reported_and_the_server_keeps_serving(client, tmp_path, capfd):
    junk = tmp_path / "scan.png"
    junk.write_bytes(b"not really a png")
    with pytest.raises(AppError, match="scan.png"):
        client.predict(handle_file(str(junk)), api_name="/load_image")
    assert "Traceback" not in capfd.readouterr().err  # a user's bad file is not a bug
    assert client.predict(handle_file(example_images()[0]), api_name="/load_image")["base"]


def test_uploads_over_the_limit_are_refused_before_they_are_stored(app_url, tmp_path):
    config = httpx.get(f"{app_url}/config").json()
    assert config["max_file_size"] == MAX_UPLOAD_BYTES  # the page checks it before sending
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (MAX_UPLOAD_BYTES + 1))
    with big.open("rb") as file:
        response = httpx.post(f"{app_url}/gradio_api/upload", files={"files": file}, timeout=60)
    assert response.status_code == 413 and str(MAX_UPLOAD_BYTES) in response.text


def test_the_number_of_sessions_kept_is_bounded(server):
    demo, _ = server
    assert demo.state_holder.capacity == MAX_SESSIONS  # Gradio's default keeps 10,000


def test_segment_is_described_on_the_api_page(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/segment"]
    names = [parameter["parameter_name"] for parameter in endpoint["parameters"]]
    assert names == ["image", "points", "labels", "box", "multimask"]
    assert len(endpoint["returns"]) == 2
    assert "not for clinical use" in endpoint["description"]  # the API page is a user-facing surface too


def test_segment_returns_the_mask_at_full_size_and_the_scores(client, predictor):
    example = example_images()[1]
    mask_file, scores = client.predict(
        handle_file(example), [[150, 230], [40, 40]], [1, 0], [60, 120, 330, 420], False, api_name="/segment"
    )
    image = load_image(example)
    expected = predictor.decode(
        predictor.encode(image), [[150, 230], [40, 40]], [1, 0], [60, 120, 330, 420], multimask_output=False
    )
    mask = np.asarray(Image.open(mask_file))
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
    np.testing.assert_array_equal(mask == 255, expected.best)
    np.testing.assert_allclose(scores, expected.iou_scores, atol=1e-6)


def test_identical_results_at_once_are_all_whole(app_url):
    # Gradio rewrites an output image it encodes itself each time the same content comes again, while another
    # response may be sending it: a client then got a truncated file. The app's own files are written once.
    call = (handle_file(example_images()[0]), [[240, 180]], [1], None, True)
    clients = [Client(app_url, verbose=False) for _ in range(6)]
    jobs = [client.submit(*call, api_name="/segment") for client in clients for _ in range(3)]
    masks = [np.asarray(Image.open(job.result(timeout=120)[0])) for job in jobs]
    assert all(np.array_equal(mask, masks[0]) for mask in masks)


def test_segment_explains_unusable_prompts(client):
    with pytest.raises(AppError, match="labels"):
        client.predict(handle_file(example_images()[0]), [[10, 10]], None, None, True, api_name="/segment")
    with pytest.raises(AppError, match="outside"):
        client.predict(handle_file(example_images()[0]), None, None, [0, 0, 5000, 10], True, api_name="/segment")


def test_the_readme_snippet_runs_against_the_app(app_url, tmp_path):
    code = README_SNIPPET.replace("http://127.0.0.1:7860/", app_url)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    mask_file, scores = result.stdout.strip().splitlines()[-1].rsplit(" [", 1)
    assert np.asarray(Image.open(mask_file)).shape == load_image(ROOT / "examples/phantom_0.png").shape[:2]
    assert len(scores.split(",")) == 3


def test_the_readme_shows_the_api_snippet():
    assert README_SNIPPET in (ROOT / "README.md").read_text()


class GatedPredictor:
    """The test predictor with every image encoding held until the gate opens: events pile up in the queue."""

    def __init__(self, predictor, gate: threading.Event):
        self._predictor, self._gate = predictor, gate

    def encode(self, *args, **kwargs):
        self._gate.wait(timeout=120)
        return self._predictor.encode(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._predictor, name)


def test_one_session_cannot_fill_the_queue(predictor):
    gate = threading.Event()
    demo, url = serve(GatedPredictor(predictor, gate))
    try:
        greedy, other = Client(url, verbose=False), Client(url, verbose=False)
        call = (handle_file(example_images()[0]), [[240, 180]], [1], None, True)
        jobs = [greedy.submit(*call, api_name="/segment") for _ in range(MAX_WAITING_PER_SESSION + 4)]
        deadline = time.monotonic() + 60
        while sum(job.done() for job in jobs) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        polite = other.submit(*call, api_name="/segment")
        time.sleep(1.0)  # time for it to join the queue (or be refused)
        gate.set()
        refused = 0
        for job in jobs:
            try:
                job.result(timeout=120)
            except QueueError:
                refused += 1
        # One may be running, at most the limit waiting; the rest were refused, and the other session was not.
        assert 3 <= refused <= 4
        mask_file, scores = polite.result(timeout=120)
        assert Path(mask_file).is_file()
    finally:
        gate.set()
        demo.close()


def test_the_app_logs_no_library_warnings_and_stopping_it_deletes_the_users_downloads(tiny_checkpoint, tmp_path):
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    log = tmp_path / "app.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "app.py", "--model", str(tiny_checkpoint), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        assert _wait_for(port, server), log.read_text()[-3000:]
        # Requests as users make them: the log has the app's own lines, not the libraries' warnings of each one.
        client = Client(f"http://127.0.0.1:{port}", verbose=False)
        for image in example_images()[:3]:
            client.predict(handle_file(image), [[40, 50]], [1], None, True, api_name="/segment")
        huge = tmp_path / "huge.png"  # 90 MP: over PIL's own warning limit, refused by the app with its message
        Image.new("L", (10_000, 9_000)).save(huge)
        with pytest.raises(AppError, match="too large"):
            client.predict(handle_file(str(huge)), [[40, 50]], [1], None, True, api_name="/segment")
        assert "Warning" not in log.read_text(), log.read_text()[-3000:]
        downloads = list(tmp_path.rglob("sam-demo-downloads-*"))  # in Gradio's cache, which serves them
        assert len(downloads) == 1
        # Again and again until it has exited, as a supervisor that forwards its own SIGTERM sends a second one
        # (`timeout`, a shell): none may interrupt the clean exit the first began.
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            server.send_signal(signal.SIGTERM)
            time.sleep(0.005)
        assert server.wait(timeout=10) == 0
        assert not downloads[0].exists()
        assert "Traceback" not in log.read_text()
    finally:
        if server.poll() is None:
            server.kill()


def _wait_for(port: int, server: subprocess.Popen, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/config", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.5)
    return False


def test_space_front_matter_matches_requirements():
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    for key in (
        "title",
        "emoji",
        "colorFrom",
        "colorTo",
        "sdk",
        "sdk_version",
        "app_file",
        "python_version",
        "license",
        "models",
        "tags",
        "short_description",
    ):
        assert key in meta, key
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pins["gradio"]
    assert meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    assert 3.10 <= float(meta["python_version"]) < 3.13
    assert len(meta["short_description"]) <= 60

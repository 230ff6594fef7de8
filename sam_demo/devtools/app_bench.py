"""Benchmarks of the served app as a browser sees it: the real `app.py` in a subprocess, driven by headless Chromium.

    python -m sam_demo.bench browser --arch large [--clicks 20] [--image PATH] [--json]
    python -m sam_demo.bench sessions --arch tiny [--sessions 20] [--clicks 10] [--image-size H W] [--client api]
        [--json]

Every latency is measured inside the page (performance.now()): from the click (or the file input's change event)
to the moment the new canvas image is loaded and decoded, so Playwright's own round trips are not in it. The server
runs with GRADIO_PROFILING=1, whose per-event traces split the server's part into queue wait, handler and
Gradio's postprocessing (PNG encoding of the outputs).

`browser` times the same clicks on a `SamPredictor` in the bench's own process, each just before the browser's
click (`PredictorClicks`); `app_overhead_ms` is the difference of the two medians. The click route reports its
decode (`Server-Timing`), so the overhead splits into the decoder running slower inside the server
(`server_decoder_slower_ms`: the browser shares these cores during the click) and the rest
(`click_beyond_route_prompt_ms`: the layer, the transport and the page).

`browser` also clicks, in the same run and the same way, on the Gradio floor (`gradio_floor.py`): a page of a
`gr.Image` canvas and a session, with a handler that returns canvases drawn beforehand. Its median is what a click
through Gradio's queue costs on this machine and browser before the app does anything. The app's clicks go by its
own route beside the queue (`app/click_route.py`), so its overhead can be below that floor
(`app_overhead_beyond_floor_ms` negative); `clicks_by_route` counts the clicks that went that way.

`sessions --client api` runs the same users as programs instead of tabs: each a `gradio_client.Client` calling the
stateless `/segment` endpoint once per click, with all its clicks so far (the image sent each time, as a program
would). There is no browser on the machine then, so the latencies are the server's and the transport's alone.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.async_api import Browser, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from ..app.downloads import JPEG_OPTIONS
from ..core.image_io import load_image
from ..core.model import save_sam
from ..core.predictor import Prediction, load_predictor
from ..core.prompt_kinds import wants_multimask
from ..drawing.viz import overlay
from .bench import machine
from .phantom import make_phantom
from .random_models import sam_architecture

ROOT = Path(__file__).resolve().parents[2]  # the repository: app.py lives there
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 900}  # the whole canvas visible: lazy-loaded images load at once
DEFAULT_IMAGE_SIZE = (480, 600)
STARTUP_TIMEOUT_S = 900  # a random ViT-L loads, compiles and encodes the four examples: minutes on 2 cores
BACKGROUND_DONE = "images in the background in"  # the log line of `SamPredictor.encode_in_background`
UPLOAD_TIMEOUT_S = 600  # the first upload compiles the encoder (XLA); ViT-L then runs 30-100 s here
CLICK_TIMEOUT_S = 120
# In `browser`, the pause before each click, as a user looks at the new mask: the page asks for the summary and the
# candidates once the canvas is painted, so a click sent at once would wait behind that.
THINK_S = 0.5
SETTLE_S = 0.1  # between the predictor's decode in this process and the browser's click (`PredictorClicks`)
SERVER_PHASES = ("queue_wait", "fn_call", "postprocess", "total")

# Installed in each page before anything is timed. A click on the canvas image (or a file chosen in a file input)
# opens a measurement; the next change of the canvas's images (the app: the image and the layer over it; the floor:
# one image) closes it once every one of them is decoded, i.e. when its pixels are ready to paint. Resource timing
# adds when the request left (Gradio's queue/join, or the app's click route) and how long the image fetch took.
# Error and warning toasts are recorded: a click that raises one failed.
PROBE_JS = """() => {
  if (window.__bench) return;
  const bench = (window.__bench = { records: [], toasts: [], pending: null });
  performance.setResourceTimingBufferSize(100000);
  const images = () => [...document.querySelectorAll('#canvas img')];
  const sources = () => images().map((image) => image.src).join(' ');
  const begin = (kind) => { bench.pending = { kind, t0: performance.now(), prev: sources() }; };
  document.addEventListener('click', (e) => { if (e.target.closest('#canvas img')) begin('click'); }, true);
  document.addEventListener('change', (e) => { if (e.target.matches('input[type=file]')) begin('upload'); }, true);
  const finish = (p, key) => {
    if (bench.pending !== p || sources() !== key) return;  // superseded by a newer image or event
    p.t_decoded = performance.now();
    const resources = performance.getEntriesByType('resource').filter((e) => e.startTime >= p.t0);
    const file = resources.filter((e) => images().some((image) => image.src === e.name)).pop();
    if (file) {
      const fetched = { fetch_start: file.startTime, fetch_end: file.responseEnd, canvas_bytes: file.encodedBodySize };
      Object.assign(p, fetched);
    }
    const request = resources.find((e) => e.name.includes('/queue/join') || e.name.includes('/sam-demo/click'));
    if (request) p.join_start = request.startTime;
    const route = resources.find((e) => e.name.includes('/sam-demo/click'));
    if (route) {
      Object.assign(p, { route_ms: route.responseEnd - route.startTime, canvas_bytes: route.encodedBodySize });
      for (const part of route.serverTiming) p[`route_${part.name}_ms`] = part.duration;
    }
    bench.pending = null;
    bench.records.push(p);
  };
  const seen = new WeakSet();
  new MutationObserver(() => {
    for (const toast of document.querySelectorAll('[data-testid="toast-body"]')) {
      if (seen.has(toast)) continue;
      seen.add(toast);
      const bad = toast.classList.contains('error') || toast.classList.contains('warning');
      bench.toasts.push({ t: performance.now(), bad, text: toast.innerText.replace(/\s+/g, ' ').trim().slice(0, 200) });
    }
    const p = bench.pending, key = sources();
    if (!p || !key || key === p.prev || key === p.key) return;
    Object.assign(p, { key, t_src: performance.now() });
    // A decode is rejected when its image is replaced meanwhile: the newer one counts.
    Promise.all(images().map((image) => image.decode())).then(() => finish(p, key), () => {});
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
}"""

# Where image pixel (x, y) of a width x height image is drawn on screen: the canvas shows the image, or for a large
# image a smaller display copy, with object-fit: contain.
PIXEL_JS = """([x, y, width, height]) => {
  const img = document.querySelector('#canvas img');
  img.scrollIntoView({ block: 'nearest' });
  const r = img.getBoundingClientRect();
  const scale = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
  const shownX = (x + 0.5) * img.naturalWidth / width, shownY = (y + 0.5) * img.naturalHeight / height;
  return [r.left + (r.width - img.naturalWidth * scale) / 2 + shownX * scale,
          r.top + (r.height - img.naturalHeight * scale) / 2 + shownY * scale];
}"""

# No progress overlay on the canvas: a click on it would land on the overlay, and users wait for it to go.
IDLE_JS = """() => {
  const tracker = document.querySelector('#canvas [data-testid="status-tracker"]');
  return !tracker || tracker.classList.contains('hide');
}"""
COUNTS_JS = "() => [window.__bench.records.length, window.__bench.toasts.length]"
DONE_JS = "([r, t]) => window.__bench.records.length > r || window.__bench.toasts.slice(t).some((x) => x.bad)"
OUTCOME_JS = (
    "([r, t]) => [window.__bench.records[r] ?? null, window.__bench.toasts.slice(t).find((x) => x.bad) ?? null]"
)


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium); no browser is downloaded.")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------------------------------------ the server


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def memory_mb(self, field: str = "VmRSS") -> float:
        """VmRSS (now) or VmHWM (peak) of the server process."""
        with open(f"/proc/{self.process.pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024

    def cpu_s(self) -> float:
        """User + system CPU seconds the server process has used (all its threads)."""
        return process_stats()[self.process.pid][1]

    def traces(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/gradio_api/profiling/traces", timeout=30) as response:
            return json.load(response)

    def clear_traces(self) -> None:
        request = urllib.request.Request(f"{self.url}/gradio_api/profiling/clear", method="POST")
        urllib.request.urlopen(request, timeout=30).close()


def process_stats() -> dict[int, tuple[int, float]]:
    """Parent pid and CPU seconds (user + system) of every live process."""
    stats = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        stats[int(path.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return stats


def browser_cpu_s(server: Server) -> float:
    """CPU seconds of this process's descendants except the server: Playwright's driver and Chromium. On one
    small machine the simulated users compete with the server for the cores; this shows how much they took."""
    stats = process_stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [pid for pid in children.get(os.getpid(), []) if pid != server.process.pid]
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def save_random_model(arch: str, folder: Path) -> None:
    """A random SAM of `arch` saved as train.py saves one; the in-memory copy is freed on return."""
    model, processor = sam_architecture(arch)
    save_sam(model, processor, folder)
    del model
    gc.collect()


@contextmanager
def served_app(model_folder: Path, workdir: Path) -> Iterator[Server]:
    """`python app.py` on a free loopback port until the block ends, then SIGTERM (the app's clean exit)."""
    command = [sys.executable, "app.py", "--model", str(model_folder), "--host", "127.0.0.1", "--port"]
    # GRADIO_PROFILING: per-event traces at /gradio_api/profiling/traces. TMPDIR: the app's downloads folder in
    # `workdir` (the floor page serves files from the system's, which Gradio allows).
    env = {"GRADIO_PROFILING": "1", "HF_HUB_OFFLINE": "1", "TMPDIR": str(workdir / "app-tmp")}
    with served(command, workdir, "app", env) as server:
        wait_until_serving(server, STARTUP_TIMEOUT_S, lambda: BACKGROUND_DONE in server.log.read_text())
        yield server


@contextmanager
def served_floor(canvas_dir: Path, workdir: Path) -> Iterator[Server]:
    """The Gradio floor page (`gradio_floor.py`) on a free loopback port until the block ends."""
    command = [sys.executable, "-m", "sam_demo.devtools.gradio_floor", str(canvas_dir), "--port"]
    with served(command, workdir, "floor") as server:
        wait_until_serving(server, 120)
        yield server


@contextmanager
def served(command: list[str], workdir: Path, name: str, env: dict | None = None) -> Iterator[Server]:
    """`command` followed by a free loopback port, run from the repository with its cache and temporary files in
    `workdir` (removed with it) and its output in `workdir/<name>.log`, until the block ends."""
    port = free_port()
    scratch = workdir / f"{name}-tmp"  # Gradio's cache and the app's downloads
    scratch.mkdir()
    env = {
        **os.environ,
        **(env or {}),
        "GRADIO_TEMP_DIR": str(scratch),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = workdir / f"{name}.log"
    with log.open("w") as output:
        process = subprocess.Popen([*command, str(port)], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield Server(process, f"http://127.0.0.1:{port}", log)
    finally:
        stop(process)


def wait_until_serving(server: Server, timeout_s: float, ready: Callable[[], bool] = lambda: True) -> None:
    """Until the page is served and `ready()` (for the app: the examples' background encoding is over, since it
    would slow what is measured)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            with urllib.request.urlopen(f"{server.url}/config", timeout=5) as response:
                if response.status == 200 and ready():
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{server.log.name} did not start serving:\n{server.log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_phases(traces: list[dict]) -> dict:
    """Median milliseconds per event handler and phase, from Gradio's profiling traces."""
    by_fn: dict[str, list[dict]] = {}
    for trace in traces:
        if trace["fn_name"] != "gradio_file_upload":  # the upload request itself: no phases recorded
            # One handler used by several events is named fn, fn_1, ...: one entry for all.
            by_fn.setdefault(re.sub(r"_\d+$", "", trace["fn_name"]), []).append(trace)
    return {
        f"server_{fn}_{phase}_ms": round(statistics.median(t[f"{phase}_ms"] for t in group), 1)
        for fn, group in sorted(by_fn.items())
        for phase in SERVER_PHASES
    }


# ------------------------------------------------------------------------------------------- images, prompts


def phantom_file(folder: Path, size: tuple[int, int], variant: int, base: np.ndarray | None = None) -> Path:
    """A phantom PNG; variants are shifted copies of one phantom (different pixels, so separate embeddings),
    since drawing a 12 MP phantom takes some 20 s."""
    image = make_phantom(0, size=size)[0] if base is None else base
    path = folder / f"phantom_{variant}.png"
    Image.fromarray(np.roll(image, 17 * variant, axis=1)).save(path)
    return path


def click_points(height: int, width: int, count: int) -> list[tuple[int, int]]:
    """`count` distinct image pixels spread over the image's centre (an R2 low-discrepancy sequence): each click
    adds a new marker, so every click changes the canvas."""
    g = 1.32471795724474602596  # the plastic number
    points = []
    for i in range(1, count + 1):
        u, v = (i / g) % 1.0, (i / g**2) % 1.0
        points.append((int(width * (0.2 + 0.6 * u)), int(height * (0.2 + 0.6 * v))))
    return points


class PredictorClicks:
    """The app's clicks decoded by a `SamPredictor` in this process, loaded as app.py loads it.

    `time_click(i)` decodes the first i clicks (the app's clicks accumulate, with its rule for candidate masks).
    `bench browser` calls it just before the browser's click i, so that the predictor and the app are timed in
    the same minutes: the decoder's speed drifts by about 10 % between minutes on a shared VM, and that drift would
    otherwise land whole in the app's overhead."""

    def __init__(self, model_folder: Path, warm_up: Path, image: Path, points: list[tuple[int, int]]):
        self.predictor = load_predictor(model_folder, cache_size=2)
        self.predictor.warm_up()
        self.predictor.encode(load_image(warm_up))  # compiles the encoder, as the app's untimed first upload does
        self.pixels = load_image(image)
        start = time.perf_counter()
        self.encoded = self.predictor.encode(self.pixels)
        self.encoder_s = time.perf_counter() - start
        self.points = points
        self.click_ms: list[float] = []

    def decode(self, count: int) -> Prediction:
        points = self.points[:count]
        multimask = wants_multimask(count, False)
        return self.predictor.decode(self.encoded, points=points, labels=[1] * count, multimask_output=multimask)

    def time_click(self, count: int) -> None:
        start = time.perf_counter()
        self.decode(count)
        self.click_ms.append((time.perf_counter() - start) * 1000)

    def save_canvases(self, canvas_dir: Path) -> None:
        """Each click's mask and points drawn as the app draws its canvas and saved as the app saves it (JPEG), for
        the Gradio floor (`gradio_floor.py`): the plain image first, then one per click."""
        canvases = {"canvas_000.jpg": self.pixels}
        for count in range(1, len(self.points) + 1):
            points = np.array(self.points[:count])
            canvases[f"canvas_{count:03d}.jpg"] = overlay(self.pixels, self.decode(count).best, points, [1] * count)
        for name, canvas in canvases.items():
            Image.fromarray(canvas).save(canvas_dir / name, **JPEG_OPTIONS)

    def summary(self) -> dict:
        return {
            "encoder_path": self.predictor.encoder_path,
            "encoder_s": round(self.encoder_s, 2),
            "predictor_click_ms": round(statistics.median(self.click_ms), 1),
        }


# ------------------------------------------------------------------------------------------ the browser side


@dataclass
class LoadRun:
    """What a load run has measured so far: kept when the global timeout stops it midway."""

    uploads: list[dict] = field(default_factory=list)
    clicks: list[dict] = field(default_factory=list)
    open_pages_s: float | None = None
    started: float | None = None  # time.monotonic() when the sessions started
    server_cpu_at_start: float | None = None
    browser_cpu_at_start: float | None = None


async def open_page(browser: Browser, url: str) -> Page:
    """A new tab in its own context (own cookies, own Gradio session), with the probe installed."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    await page.goto(url, timeout=120_000)
    await page.wait_for_selector("#canvas", timeout=120_000)
    await page.evaluate(PROBE_JS)
    return page


async def outcome(page: Page, before: list[int], timeout_s: float) -> dict:
    """The measurement opened since `before` (record and toast counts): its timings, or why it failed."""
    try:
        await page.wait_for_function(DONE_JS, arg=before, timeout=timeout_s * 1000, polling=50)
    except PlaywrightTimeout:
        await page.evaluate("() => { window.__bench.pending = null; }")
        return {"ok": False, "reason": "timeout: the canvas never updated"}
    record, toast = await page.evaluate(OUTCOME_JS, before)
    if toast is not None:
        await page.evaluate("() => { window.__bench.pending = null; }")
        return {"ok": False, "reason": f"toast: {toast['text']}"}
    return {"ok": True, **record}


async def upload(page: Page, path: Path, timeout_s: float = UPLOAD_TIMEOUT_S) -> dict:
    before = await page.evaluate(COUNTS_JS)
    # The image upload is the page's first file input (the ground-truth mask's comes later).
    await page.locator("input[type=file]").first.set_input_files(str(path))
    return await outcome(page, before, timeout_s)


async def click(
    page: Page, point: tuple[int, int], image_size: tuple[int, int], timeout_s: float = CLICK_TIMEOUT_S
) -> dict:
    """Click image pixel `point` (x, y) of an image of `image_size` (height, width), wherever the page shows it."""
    try:
        await page.wait_for_function(IDLE_JS, timeout=timeout_s * 1000, polling=50)
    except PlaywrightTimeout:
        return {"ok": False, "reason": "timeout: the canvas stayed busy"}
    before = await page.evaluate(COUNTS_JS)
    x, y = await page.evaluate(PIXEL_JS, [*point, image_size[1], image_size[0]])
    await page.mouse.click(x, y)  # a real mouse event: Gradio's select handler sees what a user's click gives
    return await outcome(page, before, timeout_s)


async def clicks_as_a_user(
    page: Page, points: list, image_size: tuple[int, int], before_click: Callable[[int], None] | None = None
) -> list[dict]:
    """Click each point in turn, `THINK_S` after the previous canvas, as one user of `browser`; `before_click(i)`
    runs at the end of that pause, before click i (1-based)."""
    outcomes = []
    for count, point in enumerate(points, start=1):
        await asyncio.sleep(THINK_S)
        if before_click is not None:
            before_click(count)
            await asyncio.sleep(SETTLE_S)
        outcomes.append(await click(page, point, image_size))
    return outcomes


async def run_session(page: Page, image: Path, image_size: tuple[int, int], points: list, run: LoadRun) -> None:
    """One user on an open tab: upload, then click each point in turn."""
    done = 0
    try:
        run.uploads.append(await upload(page, image))
        if not run.uploads[-1]["ok"]:
            raise RuntimeError(run.uploads[-1]["reason"])
        for point in points:
            run.clicks.append(await click(page, point, image_size))
            done += 1
    except (PlaywrightError, RuntimeError) as error:
        reason = f"session error: {str(error).splitlines()[0]}"
        run.clicks.extend({"ok": False, "reason": reason} for _ in points[done:])


async def launch_browser(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


async def warm_up_server(browser: Browser, url: str, image: Path) -> dict:
    """One untimed upload: the server's first encoder call compiles it (XLA), which no later user waits for."""
    page = await open_page(browser, url)
    result = await upload(page, image)
    await page.context.close()
    return result


# ----------------------------------------------------------------------------------------------- summaries


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def click_summary(clicks: list[dict]) -> dict:
    """Latency percentiles over the clicks that updated the canvas, and where the time went (medians)."""
    ok = [c for c in clicks if c["ok"]]
    if not ok:
        return {}
    total = [c["t_decoded"] - c["t0"] for c in ok]
    summary = {"click_to_canvas_ms": percentile(total, 50), "click_to_canvas_p95_ms": percentile(total, 95)}
    with_join = [c for c in ok if "join_start" in c]
    if with_join:
        summary["click_to_request_ms"] = percentile([c["join_start"] - c["t0"] for c in with_join], 50)
        summary["request_to_new_src_ms"] = percentile([c["t_src"] - c["join_start"] for c in with_join], 50)
    summary["new_src_to_decoded_ms"] = percentile([c["t_decoded"] - c["t_src"] for c in ok], 50)
    routed = [c for c in ok if "route_ms" in c]
    if routed:
        summary["click_route_ms"] = percentile([c["route_ms"] for c in routed], 50)
        summary["clicks_by_route"] = len(routed)
        summary["layer_kb"] = round(statistics.median(c["canvas_bytes"] for c in routed) / 1024, 1)
        for part in ("prompt", "layer"):  # the route's own Server-Timing: the decoder and the layer's drawing
            timed = [c[f"route_{part}_ms"] for c in routed if f"route_{part}_ms" in c]
            if timed:
                summary[f"click_route_{part}_ms"] = percentile(timed, 50)
        # Per click, the time from the click to the canvas that is not the server's `SegmentationApp.prompt`
        # (the decoder and the session's bookkeeping): the layer, the transport and the page.
        beyond = [c["t_decoded"] - c["t0"] - c["route_prompt_ms"] for c in routed if "route_prompt_ms" in c]
        if beyond:
            summary["click_beyond_route_prompt_ms"] = percentile(beyond, 50)
    fetched = [c for c in ok if "fetch_start" in c]
    if fetched:
        summary["canvas_fetch_ms"] = percentile([c["fetch_end"] - c["fetch_start"] for c in fetched], 50)
        summary["canvas_kb"] = round(statistics.median(c["canvas_bytes"] for c in fetched) / 1024)
    return summary


def failures(uploads: list[dict], clicks: list[dict]) -> dict:
    """Counts of failed uploads and clicks (a timeout, an error or warning toast), and their reasons."""
    failed_uploads = [o["reason"] for o in uploads if not o["ok"]]
    failed_clicks = [o["reason"] for o in clicks if not o["ok"]]
    reasons = Counter(failed_uploads + failed_clicks)
    counts = {"failed_uploads": len(failed_uploads), "failed_clicks": len(failed_clicks)}
    return {**counts, **({"failure_reasons": dict(reasons)} if reasons else {})}


def seconds(outcome: dict) -> float | None:
    return round((outcome["t_decoded"] - outcome["t0"]) / 1000, 2) if outcome["ok"] else None


# -------------------------------------------------------------------------------------------- the commands


def bench_browser(arch: str, clicks: int, image_path: Path | None = None) -> dict:
    """One user in one tab: upload, then `clicks` clicks; beside the same decodes in this process."""
    with tempfile.TemporaryDirectory(prefix="sam-app-bench-") as tmp:
        workdir = Path(tmp)
        model_folder = workdir / "model"
        save_random_model(arch, model_folder)
        image = image_path or phantom_file(workdir, DEFAULT_IMAGE_SIZE, 0)
        height, width = load_image(image).shape[:2]
        warm_up = phantom_file(workdir, (height, width), 1)
        points = click_points(height, width, clicks)
        canvas_dir = workdir / "floor"
        canvas_dir.mkdir()
        # Loaded before the servers start (both would contend for the cores), then idle except for its timed clicks.
        predictor = PredictorClicks(model_folder, warm_up, image, points)
        predictor.save_canvases(canvas_dir)
        gc.collect()
        with served_floor(canvas_dir, workdir) as floor:
            floor_ms = asyncio.run(_floor_clicks(floor, (height, width), points))
        with served_app(model_folder, workdir) as server:
            browser_result = asyncio.run(_one_user(server, warm_up, image, points, predictor.time_click))
            head = {"arch": arch, "image_size": [height, width], "clicks": clicks}
            result = {**head, **predictor.summary(), **browser_result}
            result.update(server_phases(server.traces()))
            result["server_rss_mb"] = round(server.memory_mb())
        del predictor
    if "click_to_canvas_ms" in result:
        result["app_overhead_ms"] = round(result["click_to_canvas_ms"] - result["predictor_click_ms"], 1)
        if "click_route_prompt_ms" in result:
            # How much slower the same decodes ran inside the server than in this process: the part of the
            # overhead that is the decoder's, not the app's own work (`click_beyond_route_prompt_ms`).
            decoder_ms = result["click_route_prompt_ms"] - result["predictor_click_ms"]
            result["server_decoder_slower_ms"] = round(decoder_ms, 1)
        result["gradio_floor_ms"] = floor_ms
        result["app_overhead_beyond_floor_ms"] = round(result["app_overhead_ms"] - floor_ms, 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 1)  # other jobs on the machine skew every number
    result["machine"] = machine()
    return result


async def _floor_clicks(floor: Server, size: tuple[int, int], points: list) -> float:
    """Median click -> canvas on the floor page, clicked as `_one_user` clicks the app."""
    async with async_playwright() as playwright:
        browser = await launch_browser(playwright)
        page = await open_page(browser, floor.url)
        await page.wait_for_selector("#canvas img")
        outcomes = await clicks_as_a_user(page, points, size)
        await browser.close()
    if not all(outcome["ok"] for outcome in outcomes):
        raise RuntimeError(f"a click on the floor page failed: {failures([], outcomes)}")
    return click_summary(outcomes)["click_to_canvas_ms"]


async def _one_user(
    server: Server, warm_up: Path, image: Path, points: list, before_click: Callable[[int], None]
) -> dict:
    async with async_playwright() as playwright:
        browser = await launch_browser(playwright)
        # In a tab of its own: Gradio fires a second upload event when a tab replaces its image.
        first = await warm_up_server(browser, server.url, warm_up)
        server.clear_traces()  # the traces of the timed part only
        page = await open_page(browser, server.url)
        uploaded = await upload(page, image)
        size = load_image(image).shape[:2]
        outcomes = await clicks_as_a_user(page, points, size, before_click) if uploaded["ok"] else []
        await browser.close()
    return {
        "think_s": THINK_S,
        "first_upload_to_canvas_s": seconds(first),  # includes the encoder's compilation
        "upload_to_canvas_s": seconds(uploaded),
        **click_summary(outcomes),
        **failures([first, uploaded], outcomes),
    }


def bench_sessions(
    arch: str, sessions: int, clicks: int, image_size: tuple[int, int], timeout_s: float, client: str = "browser"
) -> dict:
    """`sessions` users at once, each with its own image, clicking `clicks` times without pause: browser tabs
    (uploading, then clicking), or programs calling `/segment` (`client="api"`)."""
    with tempfile.TemporaryDirectory(prefix="sam-app-bench-") as tmp:
        workdir = Path(tmp)
        model_folder = workdir / "model"
        save_random_model(arch, model_folder)
        base = make_phantom(0, size=image_size)[0]
        images = [phantom_file(workdir, image_size, index, base) for index in range(sessions + 1)]
        points = click_points(*image_size, clicks)
        with served_app(model_folder, workdir) as server:
            if client == "api":
                result = _api_users(server, images, points, timeout_s)
            else:
                result = asyncio.run(_many_users(server, images, points, timeout_s))
            result.update(server_phases(server.traces()))
            result["server_peak_rss_mb"] = round(server.memory_mb("VmHWM"))
    head = {"arch": arch, "client": client, "sessions": sessions, "clicks": clicks, "image_size": list(image_size)}
    return {**head, **result, "load_average_1min": round(os.getloadavg()[0], 1), "machine": machine()}


def _api_users(server: Server, images: list[Path], points: list, timeout_s: float) -> dict:
    """One `gradio_client.Client` per user, all at once, each calling `/segment` once per click (see the module)."""
    from concurrent.futures import ThreadPoolExecutor, wait

    from gradio_client import Client, handle_file

    def segment(client: Client, image: Path, count: int) -> float:
        start = time.perf_counter()
        clicked = [list(point) for point in points[:count]]
        client.predict(handle_file(str(image)), clicked, [1] * count, None, count == 1, api_name="/segment")
        return time.perf_counter() - start

    clients = [Client(server.url, verbose=False) for _ in images]
    upload_s = segment(clients[0], images[-1], 1)  # the first call encodes the warm-up image: not timed below
    server.clear_traces()
    rss_before, cpu_before = server.memory_mb(), server.cpu_s()
    latencies: list[float] = []
    errors: Counter = Counter()

    def user(client: Client, image: Path) -> None:
        for count in range(1, len(points) + 1):
            try:
                latencies.append(segment(client, image, count))
            except Exception as error:  # a program sees every failure as an exception: count it, go on
                errors[f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(len(clients)) as pool:
        done, pending = wait([pool.submit(user, c, i) for c, i in zip(clients, images[:-1])], timeout=timeout_s)
        timed_out = bool(pending)
        for future in pending:
            future.cancel()
    wall = time.monotonic() - started
    milliseconds = [1000 * value for value in latencies]
    return {
        "clicks_done": len(latencies),
        **(
            {"click_ms": percentile(milliseconds, 50), "click_p95_ms": percentile(milliseconds, 95)}
            if milliseconds
            else {}
        ),
        "failed_clicks": sum(errors.values()),
        **({"failure_reasons": dict(errors)} if errors else {}),
        "first_call_s": round(upload_s, 2),
        "wall_s": round(wall, 1),
        "server_cpu_s": round(server.cpu_s() - cpu_before, 1),
        "server_rss_before_mb": round(rss_before),
        "server_rss_after_mb": round(server.memory_mb()),
        "timed_out": timed_out,
    }


async def _many_users(server: Server, images: list[Path], points: list, timeout_s: float) -> dict:
    run = LoadRun()
    async with async_playwright() as playwright:
        browser = await launch_browser(playwright)
        warm = await warm_up_server(browser, server.url, images[-1])
        server.clear_traces()
        rss_before = server.memory_mb()
        try:
            await asyncio.wait_for(_open_then_run(browser, server, images[:-1], points, run), timeout_s)
            timed_out = False
        except asyncio.TimeoutError:
            timed_out = True
        ended, rss_after = time.monotonic(), server.memory_mb()
        server_cpu, browser_cpu = server.cpu_s(), browser_cpu_s(server)
        await browser.close()
    upload_s = [seconds(u) for u in run.uploads if u["ok"]]
    return {
        "clicks_done": len(run.clicks),
        **click_summary(run.clicks),
        **failures([warm, *run.uploads], run.clicks),
        **({"upload_to_canvas_s": round(statistics.median(upload_s), 2)} if upload_s else {}),
        "open_pages_s": None if run.open_pages_s is None else round(run.open_pages_s, 1),
        # None when the timeout came before every tab was open
        "wall_s": None if run.started is None else round(ended - run.started, 1),
        "server_cpu_s": None if run.started is None else round(server_cpu - run.server_cpu_at_start, 1),
        "browser_cpu_s": None if run.started is None else round(browser_cpu - run.browser_cpu_at_start, 1),
        "server_rss_before_mb": round(rss_before),
        "server_rss_after_mb": round(rss_after),
        "timed_out": timed_out,
    }


async def _open_then_run(browser: Browser, server: Server, images: list[Path], points: list, run: LoadRun) -> None:
    start = time.monotonic()
    # One tab after another: 20 tabs parsing Gradio's bundle at once starve 2 cores until page loads time out;
    # and a user clicks on a page that has finished loading.
    pages = [await open_page(browser, server.url) for _ in images]
    run.open_pages_s, run.started = time.monotonic() - start, time.monotonic()
    run.server_cpu_at_start, run.browser_cpu_at_start = server.cpu_s(), browser_cpu_s(server)
    size = Image.open(images[0]).size[::-1]  # (height, width); every image has the same
    await asyncio.gather(*(run_session(page, image, size, points, run) for page, image in zip(pages, images)))

"""End to end in headless Chromium: pick an example, click a point, draw a box, check what the page shows.

The tiny model's masks are random, so positions are checked through the drawn prompts, and the shown overlay is
compared pixel for pixel with what SamPredictor + viz.overlay give for the same prompt.
Set SCREENSHOT_TO=path to also keep the final screenshot (the README's picture is made this way).
"""

import base64
import io
import os
import re
import shutil

import numpy as np
from helpers import JPEG_TOLERANCE, chromium_or_skip
from PIL import Image

from sam_demo.app import ui
from sam_demo.app.click_route import CLICK_PATH
from sam_demo.app.ui import example_images
from sam_demo.app.uploads import read_upload
from sam_demo.core.image_io import load_image
from sam_demo.drawing.viz import BOX, POSITIVE, overlay

chromium_or_skip()  # every test here uses the browser

# A viewport small enough that the portrait example is displayed scaled down.
VIEWPORT = {"width": 1100, "height": 700}
PHONE = {"width": 390, "height": 844}


def hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


# What the canvas shows, at the image's own resolution: the image, and the layer over it where its style places it,
# composited by the browser as it composites them on screen.
COMPOSITE_JS = """async () => {
  await Promise.all([...document.querySelectorAll('#canvas img')].map((image) => image.decode()));
  const base = document.querySelector('#canvas img.base'), layer = document.querySelector('#canvas img.layer');
  const size = { width: base.naturalWidth, height: base.naturalHeight };
  const canvas = Object.assign(document.createElement('canvas'), size);
  const context = canvas.getContext('2d');
  context.drawImage(base, 0, 0);
  if (layer) {
    const at = (side, size) => Math.round(parseFloat(layer.style[side]) / 100 * size);
    const [w, h] = [canvas.width, canvas.height];
    context.drawImage(layer, at('left', w), at('top', h), at('width', w), at('height', h));
  }
  return canvas.toDataURL('image/png');
}"""
# What identifies the canvas on screen: its images and the version of the value they came from.
CANVAS_KEY_JS = """() => {
  const frame = document.querySelector('#canvas .sam-canvas-frame');
  const images = [...document.querySelectorAll('#canvas img')];
  return [frame?.dataset.version ?? '', ...images.map((i) => i.src)].join(' ');
}"""


def canvas_key(page) -> str:
    return page.evaluate(CANVAS_KEY_JS)


def canvas_image(page) -> np.ndarray:
    """What the canvas shows: the image the server sent, with the layer of masks and prompts over it."""
    data = base64.b64decode(page.evaluate(COMPOSITE_JS).split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def click_image_pixel(page, x: float, y: float) -> None:
    """Click where image pixel (x, y) is drawn, wherever and however large the page shows the image."""
    image = page.locator("#canvas img.base")
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    natural = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    scale = min(box["width"] / natural[0], box["height"] / natural[1])  # object-fit: contain
    left = box["x"] + (box["width"] - natural[0] * scale) / 2
    top = box["y"] + (box["height"] - natural[1] * scale) / 2
    page.mouse.click(left + (x + 0.5) * scale, top + (y + 0.5) * scale)
    return scale


def wait_for_new_canvas(page, previous: str | None) -> None:
    """Wait until the canvas shows an image, other than `previous` (a `canvas_key`), fully loaded."""
    page.wait_for_function(
        f"""prev => {{
          const images = [...document.querySelectorAll('#canvas img')];
          return images.length && images.every((i) => i.complete) && ({CANVAS_KEY_JS})() !== prev;
        }}""",
        arg=previous,
        timeout=60_000,
    )


def open_page(browser, url: str, viewport: dict = VIEWPORT):
    """A new tab on the app, loaded (its disclaimer shown)."""
    page = browser.new_page(viewport=viewport)
    page.goto(url)
    page.wait_for_selector("text=Research demo, not for clinical use", timeout=60_000)
    return page


def open_example(page) -> None:
    """Pick the second example (440 x 600, portrait) and wait until the canvas shows it."""
    page.locator("[data-testid='example'], .gallery-item, button.gallery-item").nth(1).click()
    wait_for_new_canvas(page, None)


def assert_shows(shown: np.ndarray, expected: np.ndarray) -> None:
    """The canvas is a high-quality JPEG of `expected`: the same size, within a few levels on average."""
    assert shown.shape == expected.shape
    assert np.abs(shown.astype(int) - expected).mean() <= JPEG_TOLERANCE


def wait_for_summary(page, text: str) -> None:
    """Wait for the summary to say `text` (it comes in the same update as the canvas, rendered a moment later)."""
    page.wait_for_function("t => document.querySelector('#summary')?.innerText.includes(t)", arg=text, timeout=30_000)


def marker_centre(rendered: np.ndarray, colour: str, near: tuple[float, float], window: int = 30):
    """Centroid of the pixels painted in `colour` around `near`."""
    x0, y0 = int(near[0]) - window, int(near[1]) - window
    patch = rendered[max(y0, 0) : y0 + 2 * window, max(x0, 0) : x0 + 2 * window].astype(int)
    ys, xs = np.nonzero(np.abs(patch - hex_rgb(colour)).sum(axis=2) < 40)
    assert len(xs), f"no {colour} marker near {near}"
    return xs.mean() + max(x0, 0), ys.mean() + max(y0, 0)


def test_point_and_box_prompts_in_a_real_browser(browser, served_app, predictor, tmp_path):
    page = open_page(browser, served_app)
    example = example_images()[1]  # 440 x 600, portrait
    image = load_image(example)
    open_example(page)
    natural = page.locator("#canvas img.base").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert natural == [image.shape[1], image.shape[0]]

    # A positive point: the marker must sit on the pixel that was clicked, although the image is shown scaled.
    target = (150.0, 230.0)
    before = canvas_key(page)
    scale = click_image_pixel(page, *target)
    assert scale < 0.99, "the test must exercise a scaled display"
    wait_for_new_canvas(page, before)
    page.wait_for_selector("#candidates img", timeout=30_000)
    shown = canvas_image(page)
    centre = marker_centre(shown, POSITIVE, target)
    assert abs(centre[0] - target[0]) <= 1.0 and abs(centre[1] - target[1]) <= 1.0
    clicked = (round(centre[0]), round(centre[1]))
    predictor.set_image(image)
    expected = predictor.predict(points=[clicked], labels=[1])
    assert_shows(shown, overlay(image, expected.best, points=np.array([clicked]), labels=np.array([1])))
    assert page.locator("#candidates img").count() == 3
    wait_for_summary(page, "Predicted IoU")

    # A box by two clicks, on top of the point: one mask, the box drawn at the clicked corners.
    page.get_by_label("Box (click two corners)").check()
    before = canvas_key(page)
    click_image_pixel(page, 60, 120)
    wait_for_new_canvas(page, before)
    before = canvas_key(page)
    click_image_pixel(page, 330, 420)
    wait_for_new_canvas(page, before)
    page.wait_for_function("() => document.querySelectorAll('#candidates img').length === 1", timeout=30_000)
    shown = canvas_image(page)
    yellow = np.abs(shown.astype(int) - hex_rgb(BOX)).sum(axis=2) < 40
    rows, cols = np.nonzero(yellow)
    assert abs(cols.min() - 60) <= 1 and abs(rows.min() - 120) <= 1
    assert abs(cols.max() - 331) <= 1 and abs(rows.max() - 421) <= 1

    # A ground-truth mask leaves the canvas as it is and scores the mask in the summary (the event asks for the
    # details itself: its canvas may be the same files as before, which the page would not take for a change).
    page.locator("input[type=file]").last.set_input_files(example.replace(".png", "_mask.png"))
    wait_for_summary(page, "Against your ground truth")
    assert np.abs(canvas_image(page).astype(int) - shown).max() <= 2

    # Downloads: empty until asked for, then the label image at the image's own size.
    mask_button = page.locator("#mask-download")
    page.wait_for_function("() => document.querySelector('#mask-download').disabled", timeout=30_000)
    page.locator("#prepare-downloads").click()
    page.wait_for_function("() => !document.querySelector('#mask-download').disabled", timeout=30_000)
    with page.expect_download(timeout=30_000) as download:
        mask_button.click()
    labels = np.asarray(Image.open(download.value.path()))
    assert labels.shape == image.shape[:2] and set(np.unique(labels)) <= {0, 1}

    # Another tab has its own prompts.
    other = open_page(browser, served_app)
    open_example(other)
    assert_shows(canvas_image(other), image)  # no markers, no mask
    other.close()

    screenshot = tmp_path / "app.png"
    page.screenshot(path=str(screenshot), full_page=True)
    if os.environ.get("SCREENSHOT_TO"):
        shutil.copy(screenshot, os.environ["SCREENSHOT_TO"])
    page.close()


def test_clicks_go_by_the_click_route_and_what_it_refuses_by_gradio_with_a_message(browser, served_app):
    page = open_page(browser, served_app)
    open_example(page)
    # The route's answers as the browser's network saw them (the page's resource timing may list an answer whose
    # body it never read late, or not at all).
    by_route = lambda response: response.url.endswith(CLICK_PATH)  # noqa: E731
    # Both corners on one pixel: the route refuses the box, and the page sends the click through Gradio's event,
    # which keeps the first corner and says what was wrong.
    page.get_by_label("Box (click two corners)").check()
    before = canvas_key(page)
    with page.expect_response(by_route, timeout=30_000) as first:
        click_image_pixel(page, 100, 100)
    wait_for_new_canvas(page, before)
    assert first.value.status == 200
    assert page.locator("#canvas img.layer").get_attribute("src").startswith("blob:")
    with page.expect_response(by_route, timeout=30_000) as second:
        click_image_pixel(page, 100, 100)
    assert second.value.status == 422
    page.wait_for_selector("text=That box has no area", timeout=30_000)
    wait_for_summary(page, "Click the other corner of the box.")
    page.close()


def test_a_click_crossed_by_another_event_shows_the_session_as_the_server_has_it(browser, served_app):
    page = open_page(browser, served_app)
    open_example(page)
    held = []  # the click route's requests, held until the test lets them go
    page.route("**/sam-demo/click", lambda route: held.append(route))

    # "Clear all" redraws the canvas while a click is on its way: the route's answer (made on the cleared session,
    # which has the click) is not laid over the redrawn canvas; the page asks for the canvas as the server has it.
    click_image_pixel(page, 100, 100)
    wait_for_held(page, held)
    before = canvas_key(page)
    page.get_by_role("button", name="Clear all").click()
    wait_for_new_canvas(page, before)
    redrawn = canvas_key(page)
    held.pop().continue_()
    wait_for_new_canvas(page, redrawn)
    wait_for_summary(page, "Predicted IoU")
    assert not page.locator("#canvas img.layer").get_attribute("src").startswith("blob:")  # the server's canvas

    # The route refused a click because an event replaced the session meanwhile: the page does not send the click
    # again through Gradio (it would land on the other event's session); it shows the session as it is.
    before = canvas_key(page)
    click_image_pixel(page, 200, 200)
    wait_for_held(page, held)
    held.pop().fulfill(status=409, json={"detail": "session changed"})
    wait_for_new_canvas(page, before)
    page.wait_for_timeout(500)
    assert canvas_key(page).split()[1:] == before.split()[1:]  # the same images (one point), in a new version
    page.close()


def wait_for_held(page, held: list, timeout_s: float = 30) -> None:
    """Wait until the page's click has reached the test's route handler (which runs while Playwright waits)."""
    for _ in range(int(timeout_s / 0.05)):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1


def test_on_a_phone_the_image_to_click_follows_the_upload(browser, served_app, predictor):
    page = open_page(browser, served_app, PHONE)
    image = load_image(example_images()[1])  # 440 x 600, portrait: wider than a phone
    open_example(page)

    # The columns stack: upload (and the examples), then the canvas within the first screen, then the controls.
    upload, canvas, mode = (page.locator(f"#{name}").bounding_box() for name in ("upload", "canvas", "mode"))
    upload_bottom = upload["y"] + upload["height"]
    assert upload_bottom <= canvas["y"] < mode["y"]
    assert canvas["y"] - upload_bottom < 200 and canvas["y"] + page.evaluate("window.scrollY") < PHONE["height"]
    # Its box is the image's shape, as wide as the screen allows: no empty bands.
    shown = page.locator("#canvas img.base").bounding_box()
    assert abs(shown["height"] / shown["width"] - image.shape[0] / image.shape[1]) < 0.01
    assert canvas["width"] - shown["width"] < 4 and canvas["height"] - shown["height"] < 4
    assert canvas["x"] >= 0 and canvas["x"] + canvas["width"] <= PHONE["width"]

    first = click_and_find_marker(page, (150.0, 230.0))
    labels = page.locator("#candidates .caption-label")
    assert labels.count() == 3
    for index in range(3):  # whole, not cut with an ellipsis
        label = labels.nth(index)
        assert label.evaluate("e => e.scrollWidth <= e.clientWidth"), label.inner_text()
        assert re.fullmatch(r"[123] · \d\.\d\d( ✓)?", label.inner_text().strip())

    # Next lesion keeps the mask (now in the first lesion colour) and starts a new prompt set.
    before = canvas_key(page)
    page.get_by_role("button", name="Next lesion").click()
    wait_for_new_canvas(page, before)
    second = click_and_find_marker(page, (300.0, 400.0))
    predictor.set_image(image)
    first_mask = predictor.predict(points=[first], labels=[1]).best
    second_mask = predictor.predict(points=[second], labels=[1]).best
    expected = overlay(
        image, second_mask, points=np.array([second]), labels=np.array([1]), regions=first_mask.astype(np.uint8)
    )
    assert_shows(canvas_image(page), expected)
    wait_for_summary(page, "Lesion 1:")
    page.close()


def click_and_find_marker(page, target: tuple[float, float]) -> tuple[int, int]:
    """Click image pixel `target` on a scaled display; check the marker is drawn there; return the pixel it marks."""
    before = canvas_key(page)
    scale = click_image_pixel(page, *target)
    assert scale < 0.99, "the test must exercise a scaled display"
    wait_for_new_canvas(page, before)
    page.wait_for_selector("#candidates img", timeout=30_000)
    centre = marker_centre(canvas_image(page), POSITIVE, target)
    assert abs(centre[0] - target[0]) <= 1.0 and abs(centre[1] - target[1]) <= 1.0
    return round(centre[0]), round(centre[1])


def test_a_replaced_image_is_read_once_and_a_click_after_it_is_kept(browser, served_app, monkeypatch):
    # Gradio reports a tab's replaced image twice (the second time about when the first is shown): the second
    # report must neither process the image again nor reset the clicks made since.
    reads = []
    monkeypatch.setattr(ui, "read_upload", lambda path: reads.append(path) or read_upload(path))
    page = open_page(browser, served_app)
    upload = page.locator("input[type=file]").first  # the image's (the ground-truth mask's comes later)
    upload.set_input_files(example_images()[1])
    wait_for_new_canvas(page, None)
    before = canvas_key(page)
    upload.set_input_files(example_images()[0])
    wait_for_new_canvas(page, before)
    click_image_pixel(page, 150.0, 230.0)
    wait_for_summary(page, "Predicted IoU")
    page.wait_for_timeout(1500)  # time for any late upload event to arrive
    assert len(reads) == 2  # once per image
    assert "Predicted IoU" in page.locator("#summary").inner_text()
    assert page.locator("#candidates img").count() == 3
    page.close()

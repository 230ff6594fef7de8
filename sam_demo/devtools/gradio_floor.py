"""The floor under a click through Gradio's queue: a Gradio canvas, and a click handler that does nothing.

    python -m sam_demo.devtools.gradio_floor CANVAS_DIR --port PORT

Serves a page with a session state and the canvas the app had before its click route (`gr.Image`, JPEG,
`#canvas`), whose click handler returns the next of the JPEG files in CANVAS_DIR, made beforehand, in the app's
outputs (`ui.OUTPUTS`). `bench browser` times clicks on it beside the app's: the floor is what Gradio, the browser
and the machine cost per click whatever the handler does, which the app's click route (`app/click_route.py`) avoids.
"""

from __future__ import annotations

import sys
from itertools import cycle
from pathlib import Path

import gradio as gr

from ..app.ui import OUTPUTS, PAGE_CSS


def build_floor_page(canvases: list[Path]) -> gr.Blocks:
    files = cycle(str(path) for path in canvases)

    def click(state: int, event: gr.SelectData) -> tuple[int, str]:
        return state + 1, next(files)

    with gr.Blocks(title="Gradio floor") as page:
        state = gr.State(0)
        canvas = gr.Image(next(files), interactive=False, format="jpeg", buttons=[], elem_id="canvas")
        outputs = [state, canvas]
        assert len(outputs) == len(OUTPUTS)  # what the app's click answers with
        canvas.select(click, [state], outputs, show_progress="hidden")
        gr.HTML(f"<style>{PAGE_CSS}</style>", padding=False, js_on_load=None)
    return page


if __name__ == "__main__":
    folder, port = Path(sys.argv[1]), int(sys.argv[3])  # CANVAS_DIR --port PORT
    build_floor_page(sorted(folder.glob("*.jpg"))).queue().launch(server_name="127.0.0.1", server_port=port, quiet=True)

"""The served-app benchmarks run end to end on the tiny model (numbers are not checked, only that they exist)."""

import json
import subprocess
import sys
from pathlib import Path

from helpers import chromium_or_skip

ROOT = Path(__file__).resolve().parents[1]

chromium_or_skip()


def bench(*args: str) -> dict:
    command = [sys.executable, "-m", "sam_demo.bench", *args, "--json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_positive(result: dict, *keys: str) -> None:
    for key in keys:
        assert result[key] > 0, (key, result)


def test_browser_benchmark():
    result = bench("browser", "--arch", "tiny", "--clicks", "3")
    assert result["failed_clicks"] == result["failed_uploads"] == 0, result.get("failure_reasons")
    assert_positive(
        result, "upload_to_canvas_s", "click_to_canvas_ms", "click_to_canvas_p95_ms", "predictor_click_ms", "encoder_s"
    )
    assert {"app_overhead_ms", "encoder_path", "machine"} <= result.keys()
    # The floor page's clicks were timed too, and the app's overhead is split into it and the rest.
    assert result["gradio_floor_ms"] > 0
    assert result["app_overhead_beyond_floor_ms"] == round(result["app_overhead_ms"] - result["gradio_floor_ms"], 1)
    # The clicks went by the click route, whose own decode splits the overhead into the decoder's and the rest.
    assert result["clicks_by_route"] == 3 and result["click_beyond_route_prompt_ms"] > 0
    slower = result["click_route_prompt_ms"] - result["predictor_click_ms"]
    assert result["server_decoder_slower_ms"] == round(slower, 1)
    assert "server_details_total_ms" in result  # the page asked for the details once each canvas was shown
    assert any(key.startswith("server_") and key.endswith("_total_ms") for key in result)  # Gradio's traces


def test_sessions_benchmark():
    result = bench("sessions", "--arch", "tiny", "--sessions", "2", "--clicks", "2")
    assert result["failed_clicks"] == result["failed_uploads"] == 0, result.get("failure_reasons")
    assert result["clicks_done"] == 4 and not result["timed_out"]
    assert_positive(
        result, "click_to_canvas_ms", "click_to_canvas_p95_ms", "server_rss_before_mb", "server_rss_after_mb"
    )
    assert "machine" in result


def test_sessions_benchmark_as_programs_on_the_segment_endpoint():
    result = bench("sessions", "--arch", "tiny", "--sessions", "2", "--clicks", "2", "--client", "api")
    assert result["failed_clicks"] == 0, result.get("failure_reasons")
    assert result["clicks_done"] == 4 and not result["timed_out"] and result["client"] == "api"
    assert_positive(result, "click_ms", "click_p95_ms", "server_cpu_s", "server_rss_after_mb")
    assert "server_segment_total_ms" in result  # Gradio's traces of the endpoint the programs called

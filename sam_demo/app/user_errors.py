"""Telling a user that their input cannot be used, and the operator that it happened, in one log line each.

Bad input (an unreadable file, a click outside the image) is not a bug: the message goes to the page, and the log
gets one line without a traceback. Gradio prints tracebacks only for exceptions other than these, the real bugs.
"""

from __future__ import annotations

import logging

import gradio as gr

logger = logging.getLogger(__name__)


def refusal(message: str, title: str) -> gr.Error:
    """The error to raise for input that stops the request; logged here as one line."""
    logger.info("refused (%s): %s", title, message)
    return gr.Error(message, title=title, print_exception=False)


def warn(message: str) -> None:
    """Show `message` as a warning on the page (the request goes on); logged here as one line."""
    logger.info("warned: %s", message)
    gr.Warning(message)

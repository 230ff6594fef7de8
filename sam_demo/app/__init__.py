"""The Gradio app: the page and its handlers, and one user's session."""

"""Drawing masks, points and boxes: on images for the app, on matplotlib axes for reports."""

"""`DatasetError`, the one error of the dataset layer: its message names the file and says what was wrong."""


class DatasetError(ValueError):
    """A dataset that cannot be used as given; the message names the file and the problem."""

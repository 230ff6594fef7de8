"""Publishing: the model card and the Hub."""

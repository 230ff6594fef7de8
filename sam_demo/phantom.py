"""`python -m sam_demo.phantom ...`: the phantom generator of `sam_demo.devtools.phantom`, by its documented name."""

import sys

from .devtools.phantom import main

if __name__ == "__main__":
    sys.exit(main())

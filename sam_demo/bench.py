"""`python -m sam_demo.bench ...`: the benchmarks of `sam_demo.devtools.bench`, under their documented command."""

from .devtools.bench import main

if __name__ == "__main__":
    main()

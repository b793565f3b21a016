"""Entry point for `python -m recsys`."""

from recsys.cli import main

if __name__ == "__main__":
    main(prog_name="python -m recsys")

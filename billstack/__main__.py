"""`python -m billstack …` is the `billstack` operator command."""

from billstack.cli import run

if __name__ == "__main__":
    run()

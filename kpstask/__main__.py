"""`python -m kpstask`."""

from kpstask.cli import main

main()

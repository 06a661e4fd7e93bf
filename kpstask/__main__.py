"""`python -m kpstask`."""

from kpstask.entry import main

main()

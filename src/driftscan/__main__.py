"""`python -m driftscan`."""

from driftscan.cli.main import main

main()

"""`python -m nasforge` runs the command line."""

from nasforge.ui.cli import main

main()

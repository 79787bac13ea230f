"""`python -m genvid` is the `genvid` command."""

from genvid.cli import main

main()

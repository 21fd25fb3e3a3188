"""`python -m optcache` runs the command-line interface (the `optcache` command)."""

from optcache.cli import run

run()

from optcache.cli import run

run()

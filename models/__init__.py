"""Pyomo models (optcache.models): problem (28) over a horizon and problem (29) for one slot."""

"""The market layer: valuations, auctions (SPA, MSB family) and DQMSB (docs/formulation.md §11).

- `valuations`: rounds (slot × service) from caching runs, `v_n = c · m_n`, coverage, contract price;
- `mechanisms`: pure numpy spa, msb, myopic, optimal, dqmsb (critical / literal), surplus;
- `dqn`: the deep Q-network of Algorithm 2 (torch), training, checkpoints;
- `experiment`: every mechanism scored on held-out rounds (the `optcache market evaluate` contract).

Only `dqn` imports torch; import it explicitly.
"""

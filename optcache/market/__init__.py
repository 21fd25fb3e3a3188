"""The market layer: valuations, auctions (SPA, MSB family) and DQMSB (FORMULATION §9)."""

"""Experiments one layer above the instruments: pipelines that run melib's building blocks over a
dataset, cache per-clip results and make tables (``motion``: notebooks 02-03; ``runs``: every method behind one
interface; ``composite``: the MEGC 2019 composite protocol of the emotion methods)."""

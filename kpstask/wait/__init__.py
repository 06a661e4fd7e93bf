"""Waiting: the engine (wait/engine.py), what it tracks per task, the running list and its
cost model, how requests run, the events a display hears, `get`'s asker, and the lines
`wait -o json|tsv` writes as tasks finish."""

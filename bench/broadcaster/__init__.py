"""The parties of the broadcaster benchmark (``bench/bench_broadcaster.py`` runs them).

Every party runs in a process of its own: the watchers' client, the producers and the
fan-out servers compared with the broadcaster.
"""

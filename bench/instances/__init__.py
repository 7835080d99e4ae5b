"""The parts of the multi-instance benchmark (``bench/bench_instances.py`` runs them)."""

"""The helpers of the command service benchmark (``bench/bench_command.py`` runs them)."""

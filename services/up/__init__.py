"""Run the whole system locally: ``python -m services.up`` (what ``make run`` calls)."""

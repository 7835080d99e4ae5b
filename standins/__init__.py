"""Development and test doubles of real engines (not services of the rover system)."""

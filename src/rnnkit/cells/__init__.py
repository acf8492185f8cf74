"""rnnkit.cells."""

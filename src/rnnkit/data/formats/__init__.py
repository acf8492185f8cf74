"""rnnkit.data.formats."""

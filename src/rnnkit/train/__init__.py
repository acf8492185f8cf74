"""rnnkit.train."""

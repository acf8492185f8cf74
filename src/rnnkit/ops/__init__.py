"""rnnkit.ops."""

"""Neural networks, each built from a config dataclass so a model card can rebuild it."""

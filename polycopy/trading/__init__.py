"""Copy-trade decisions: the signal stages, position sizing and portfolio risk (pure Python)."""

"""Wallet scoring: pure formulas (no Dagster), every threshold a named setting."""

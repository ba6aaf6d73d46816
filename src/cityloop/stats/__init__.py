"""Timeliness and evaluation figures, computed from events and deadlines."""

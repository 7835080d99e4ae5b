"""Reusable test support: fixtures and helpers any suite may import."""

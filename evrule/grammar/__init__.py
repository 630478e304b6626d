"""Grammar files, shipped as package data."""

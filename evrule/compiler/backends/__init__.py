"""Backends: IR to runnable artefacts."""

"""Backends: engines that run a compiled graph."""

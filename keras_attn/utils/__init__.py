"""Plumbing with no model in it: atomic files, devices, plotting, quiet TensorFlow."""

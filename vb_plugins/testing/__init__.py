"""Helpers for tests of vb-plugins and of third-party plugins: tiny offline pipelines, image degradations.

Submodules are imported on demand (``from vb_plugins.testing.tiny_pipeline import build_tiny_pipeline``)
so that importing this package stays free of torch and diffusers.
"""

"""Training: synthetic scenes with exact ground truth, and instruction-tuning helpers.

Submodules are imported on demand (``from vb_plugins.training.synthetic import render_scene``) so that
importing this package stays free of torch.
"""

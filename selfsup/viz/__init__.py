"""Visualizations: MAE reconstructions (``selfsup.viz.reconstruct``), ..."""

"""The report stage: DVC metrics, plots, figures and a markdown summary."""

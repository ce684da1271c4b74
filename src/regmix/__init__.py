"""regmix: RegMix (Liu et al. 2024, arXiv 2407.01492) as an importable library."""

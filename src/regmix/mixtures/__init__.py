"""Data mixtures: RegMix's Dirichlet sampler with usage caps, and the baseline mixtures."""

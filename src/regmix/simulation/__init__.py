"""The simulation stage: predict many candidate mixtures, average the best: the optimal mixture."""

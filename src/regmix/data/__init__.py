"""The domains stage: the training and validation domains, from the synthetic corpus, a local directory or a HF "
"dataset."""

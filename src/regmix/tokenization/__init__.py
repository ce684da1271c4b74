"""The tokenize stage: a tokenizer (trained BPE or a given tokenizer.json) and the packed token arrays."""

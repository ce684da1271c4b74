"""Every part's configuration, as frozen pydantic dataclasses that import nothing heavy: reading `params.yaml`
needs neither torch nor MLflow nor scikit-learn, and every stage depends on this folder alone for it."""

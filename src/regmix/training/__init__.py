"""Training one litgpt model on a mixture with Lightning Fabric: proxies and large models alike."""

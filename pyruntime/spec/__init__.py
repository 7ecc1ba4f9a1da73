"""config.json: loading, the checks this runtime makes, and the default spec."""

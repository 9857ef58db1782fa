"""`castle`: the command-line tool for a running Castle (accounts, keys, funding)."""

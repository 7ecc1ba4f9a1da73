"""Building the container's filesystem view inside its mount namespace."""

"""The order of steps of each operation on a container."""

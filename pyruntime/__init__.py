"""pyruntime: a runc-compatible OCI container runtime written in Python."""

__version__ = "0.1.0"
# The runtime-spec version this runtime implements and reports.
SPEC_VERSION = "1.2.1"

# The compiled cffi module built by _seccomp_build.py (typed loosely: cffi objects).
from typing import Any

ffi: Any
lib: Any

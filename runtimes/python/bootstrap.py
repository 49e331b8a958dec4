"""bootstrap.py - starts quarry's Python runtime, quarry_runtime.py.

Python compiles the script it is started with on every start (about 10 ms for the
runtime), but loads imported modules from cached bytecode in __pycache__, which `make`
writes (the sandbox mounts this directory read-only). So the runtime is imported, not run.
"""
import sys

import quarry_runtime

sys.exit(quarry_runtime.main())

"""melib: micro-expression analysis for teaching and reproduction.

Layers (one sample crosses each once): ``data`` -> ``face``/``motion`` -> ``cache`` -> ``models`` +
``losses`` -> ``train`` -> ``metrics``/``viz``. See README.md for the two set-up commands.
"""
__version__ = "0.1.0"

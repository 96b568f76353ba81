"""LLM Inference Playbook: the library behind the notebooks.

Notebooks stay thin: narrative, a ``parameters`` cell, calls into these modules,
plots. Everything a test can reach lives here.
"""

__version__ = "0.1.0"

"""What the libraries under kateval may print. By default only what a user can act on: vLLM, transformers and
torch warnings about their own internals (dtype casts, tcmalloc and NUMA hints, deprecations inside vLLM, weight
loading bars) are hidden, errors still show, and kateval's own lines (its progress bar, where the results are,
its warnings) are untouched. `--verbose` (or verbose=True) leaves every library at its own default.

This sets process-wide switches (environment variables read when vLLM and torch are imported, logger levels,
warning filters), so it is called once, at the edge: by the command line and by kateval.evaluate.
"""
from __future__ import annotations

import logging
import os
import warnings

# Read by the libraries when they are imported; a value the user set is kept.
QUIET_ENVIRONMENT = {
    "VLLM_LOGGING_LEVEL": "ERROR",     # vLLM's own logger (it prints to stdout)
    "TRANSFORMERS_VERBOSITY": "error",
    "TORCH_CPP_LOG_LEVEL": "ERROR",    # torch's C++ warnings ("NUMA binding: ...") written straight to stderr
}
NOISY_LOGGERS = ("vllm", "transformers", "torch", "triton", "xgrammar", "datasets", "huggingface_hub", "filelock")
NOISY_MODULES = r"(vllm|torch|transformers|triton|xgrammar|datasets|huggingface_hub)(\.|$)"


def configure_library_output(verbose: bool = False) -> None:
    if verbose:
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO")
        return
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=NOISY_MODULES)


def library_info_wanted() -> bool:
    """Whether vLLM was left to log at INFO (verbose): then its weight-loading bar is shown too."""
    return os.environ.get("VLLM_LOGGING_LEVEL", "INFO").upper() in ("DEBUG", "INFO")

"""kateval: accuracy and token cost of reasoning LLMs, per sample, with AutoThink mode accounting."""
__version__ = "0.1.0"

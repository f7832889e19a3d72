"""bare-tui: make fine-tuning datasets with the BARE (Base-Refine) method."""

__version__ = "0.1.0"

import os

# Nothing is downloaded at run time: the embedding model comes from an installed package.
# Set before any Hugging Face library loads, for the whole process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

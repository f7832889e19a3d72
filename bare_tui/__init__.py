"""bare-tui: make fine-tuning datasets with the BARE (Base-Refine) method."""

__version__ = "0.1.0"

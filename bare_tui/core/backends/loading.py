"""Open the backend for a role from settings."""

from __future__ import annotations

from bare_tui.config import Settings
from bare_tui.core import models
from bare_tui.core.backends import Backend


def open_backend(role: str, settings: Settings) -> Backend:
    from bare_tui.core.backends.llamacpp import LlamaCppBackend, LlamaOptions

    model = models.resolve(getattr(settings, role), role, settings.models_dir)
    return LlamaCppBackend(model, LlamaOptions(gpu_layers=settings.gpu_layers,
                                               ctx=settings.ctx, threads=settings.threads,
                                               parallel=settings.parallel))

"""Open the backend for a role (base or instruct) from settings: where the settings
meet the core, which never imports them."""

from __future__ import annotations

from collections.abc import Callable

from bare_tui.config import Settings
from bare_tui.core.generation import model_files
from bare_tui.core.generation.backends import Backend


def open_backend(role: str, settings: Settings,
                 on_note: Callable[[str], None] | None = None) -> Backend:
    """A serving engine when one is configured for the role, else the local GGUF model;
    `on_note` hears what a server backend says as it goes (retries, bad replies)."""
    url = settings.server_for(role)
    if url:
        from bare_tui.core.generation.backends.openai import OpenAIBackend, ServerOptions

        return OpenAIBackend(ServerOptions(url=url, model=getattr(settings, role),
                                           api_key=settings.api_key,
                                           concurrency=settings.concurrency,
                                           timeout_s=settings.server_timeout),
                             on_note=on_note)
    from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions

    model = model_files.resolve(getattr(settings, role), role, settings.models_dir,
                                settings.cache_dir)
    return LlamaCppBackend(model, LlamaOptions(gpu_layers=settings.gpu_layers,
                                               ctx=settings.ctx, threads=settings.threads,
                                               parallel=settings.parallel,
                                               cpu_path=settings.cpu_path,
                                               probing=settings.probing))


def model_identity(role: str, settings: Settings) -> set[str]:
    """What tells the model a role names apart before it loads: its name (a served copy
    of a local model goes by it too), and the local file's resolved path or the served
    model's name and address."""
    url = settings.server_for(role)
    name = getattr(settings, role)
    if url:
        return {f"{name} at {url}", *([name] if name else [])}
    model = model_files.resolve(name, role, settings.models_dir, settings.cache_dir)
    return {model.name, str(model.path.resolve())}

"""llama-cpp-python's OpenAI-compatible server on the CPU path this machine's probe chose.

The server loads models with llama.cpp's defaults, extra buffer types included, which
fault on some CPUs (see bare_tui.core.generation.cpu_path); the tests serve through this wrapper so
that they run on every machine, as bare-tui's own backend does.

    python tests/llama_server.py --model M.gguf --port 8000 ...
"""

import runpy
import sys

from bare_tui import config
from bare_tui.core.generation import cpu_path, model_files

if __name__ == "__main__":
    settings = config.load()
    verdict = cpu_path.choose(
        model_files.embedded(model_files.EMBEDDED_INSTRUCT, settings.cache_dir).path,
        settings.cpu_path, settings.probing)
    with cpu_path.model_params(verdict.fast):
        sys.argv = ["llama_cpp.server", *sys.argv[1:]]
        runpy.run_module("llama_cpp.server", run_name="__main__")

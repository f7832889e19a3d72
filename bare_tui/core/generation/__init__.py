"""Making candidates: the BARE pipeline (draft with the base model, refine with the
instruct model, attempts and retries), grammars that hold the format, the backends
(llama.cpp in-process, an OpenAI-compatible server) and what they load (model files,
GGUF metadata, the CPU path probe, the CPU lock jobs take turns on, the rate meter).
It imports the workspace and the inputs."""

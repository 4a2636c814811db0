"""XLA's persistent compilation cache, shared by every run on the machine."""

from __future__ import annotations

import os


def enable_compile_cache() -> None:
    """Keep XLA's compiled programs on disk: repeated runs with the same shapes skip most compile time.

    CAPTIONFLOW_JAX_CACHE=off disables it, CAPTIONFLOW_JAX_CACHE=DIR moves it; the default is
    ${CAPTIONFLOW_CACHE:-~/.cache/captionflow}/jax-cache.
    Entries are keyed by the program and the jax/XLA version, so a stale entry is never used.
    """
    setting = os.environ.get("CAPTIONFLOW_JAX_CACHE", "")
    if setting == "off":
        return
    root = os.environ.get("CAPTIONFLOW_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "captionflow")
    import jax

    jax.config.update("jax_compilation_cache_dir", setting or os.path.join(root, "jax-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

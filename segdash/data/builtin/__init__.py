"""Built-in datasets prepared from files that registry packages ship; each module registers one.

A built-in names the packages it reads its files from in ``requires`` (a class attribute);
``missing_packages`` says which of them are not installed, without importing any.
"""

import importlib.util

from segdash.data.builtin import brain_mri, nuclei, street_synth  # noqa: F401


def missing_packages(entry) -> list[str]:
    """The packages built-in ``entry`` (a ``RegistryEntry``) needs that are not installed; empty when it opens."""
    return [name for name in getattr(entry.factory, "requires", ()) if importlib.util.find_spec(name) is None]

"""Built-in datasets prepared from files that registry packages ship; each module registers one."""

from segdash.data.builtin import brain_mri, nuclei, street_synth  # noqa: F401

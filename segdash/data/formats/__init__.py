"""On-disk dataset formats; each module registers one format."""

from segdash.data.formats import carla, folder, kitti, mri_npy, nifti, oxford_pets, voc  # noqa: F401

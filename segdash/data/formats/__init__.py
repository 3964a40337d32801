"""On-disk dataset formats; each module registers one format."""

from segdash.data.formats import (  # noqa: F401
    ade20k,
    camvid,
    carla,
    cityscapes,
    coco,
    cvat,
    folder,
    kitti,
    labelme,
    mapillary,
    mri_npy,
    nifti,
    oxford_pets,
    voc,
)

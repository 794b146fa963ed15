"""The five methods, one package each; each package's docstring names the
paper and lists its pieces.

* `adashare`: AdaShare (Sun et al., NeurIPS 2020).
* `feature_partitioning`: feature partitioning (Newell et al. 2019).
* `mtl_nas`: NDDR-CNN (Gao et al., CVPR 2019) and MTL-NAS (Gao et al.,
  CVPR 2020).
* `tag`: task affinity grouping (Fifty et al., NeurIPS 2021).
* `taps`: task-adaptive parameter sharing (Wallingford et al., CVPR 2022).

Importing a method package registers its Keras layers; nothing here is
imported by the generic packages (`models`, `trainers`, `weighting`,
`data`, `search`).
"""

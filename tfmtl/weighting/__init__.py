"""Loss and gradient weighting methods, by name.

Every method is a `Weighting` layer (see ``weighting.py`` for the contract);
gradient methods need a Gramian from ``gramian.py``; the newer ones
derive from `GramianWeighting` (``gramian_weighting.py``).
"""

from tfmtl.weighting.aligned_mtl import AlignedMTL
from tfmtl.weighting.cagrad import CAGrad
from tfmtl.weighting.composed_weighting import ComposedWeighting
from tfmtl.weighting.config import ConFIG
from tfmtl.weighting.db_mtl import DBMTL
from tfmtl.weighting.dual_proj import DualProj
from tfmtl.weighting.dwa import DWA
from tfmtl.weighting.ew import EW
from tfmtl.weighting.excess_mtl import ExcessMTL
from tfmtl.weighting.fair_grad import FairGrad
from tfmtl.weighting.famo import FAMO
from tfmtl.weighting.fixed_weights import FixedWeights
from tfmtl.weighting.gls import GLS
from tfmtl.weighting.grad_drop import GradDrop
from tfmtl.weighting.grad_norm import GradNorm
from tfmtl.weighting.grad_vac import GradVac
from tfmtl.weighting.gramian import parameter_gramian, representation_gramian
from tfmtl.weighting.gramian_weighting import GramianWeighting
from tfmtl.weighting.imtl import IMTL
from tfmtl.weighting.mgda import MGDA
from tfmtl.weighting.moco import MoCo
from tfmtl.weighting.nash_mtl import NashMTL
from tfmtl.weighting.pcgrad import PCGrad
from tfmtl.weighting.rlw import RLW
from tfmtl.weighting.sdmgrad import SDMGrad
from tfmtl.weighting.stch import STCH
from tfmtl.weighting.uncertainty_weighting import UncertaintyWeighting
from tfmtl.weighting.upgrad import UPGrad
from tfmtl.weighting.weighting import Weighting

ALL = {
    "ew": EW,
    "fixed": FixedWeights,
    "uw": UncertaintyWeighting,
    "gradnorm": GradNorm,
    "pcgrad": PCGrad,
    "dwa": DWA,
    "mgda": MGDA,
    "cagrad": CAGrad,
    "imtl": IMTL,
    "gradvac": GradVac,
    "nash_mtl": NashMTL,
    "rlw": RLW,
    "aligned_mtl": AlignedMTL,
    "famo": FAMO,
    "graddrop": GradDrop,
    "upgrad": UPGrad,
    "dualproj": DualProj,
    "config": ConFIG,
    "fairgrad": FairGrad,
    "db_mtl": DBMTL,
    "moco": MoCo,
    "stch": STCH,
    "excess_mtl": ExcessMTL,
    "sdmgrad": SDMGrad,
    "gls": GLS,
    "composed": ComposedWeighting,
}


def get(name, **kwargs):
    """Instantiates the weighting called ``name`` (a key of `ALL`).

    Args:
        name: method name, case-insensitive.
        **kwargs: constructor arguments of the method.

    Raises:
        ValueError: if the name is unknown (the message lists the names).
    """
    key = name.lower()
    if key not in ALL:
        raise ValueError(
            f"Unknown weighting {name!r}; known: {', '.join(sorted(ALL))}"
        )
    return ALL[key](**kwargs)


__all__ = [
    "ALL",
    "AlignedMTL",
    "CAGrad",
    "ComposedWeighting",
    "ConFIG",
    "DBMTL",
    "DWA",
    "DualProj",
    "EW",
    "ExcessMTL",
    "FAMO",
    "FairGrad",
    "FixedWeights",
    "GLS",
    "GradDrop",
    "GradNorm",
    "GradVac",
    "GramianWeighting",
    "IMTL",
    "MGDA",
    "MoCo",
    "NashMTL",
    "PCGrad",
    "RLW",
    "SDMGrad",
    "STCH",
    "UPGrad",
    "UncertaintyWeighting",
    "Weighting",
    "get",
    "parameter_gramian",
    "representation_gramian",
]

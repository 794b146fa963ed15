"""NDDR-CNN and MTL-NAS: task-specific backbones fused stage by stage."""

from tfmtl.methods.mtl_nas.architecture_schedule import ArchitectureSchedule
from tfmtl.methods.mtl_nas.connectivity import draw_connectivity
from tfmtl.methods.mtl_nas.connectivity_summary import ConnectivitySummary
from tfmtl.methods.mtl_nas.cross_stitch_fusion import CrossStitchFusion
from tfmtl.methods.mtl_nas.mtl_nas import GATE_MODES, MTLNAS
from tfmtl.methods.mtl_nas.nddr import NDDR
from tfmtl.methods.mtl_nas.nddr_fusion import NDDRFusion
from tfmtl.methods.mtl_nas.nddr_layer import NDDRLayer

__all__ = [
    "GATE_MODES",
    "MTLNAS",
    "NDDR",
    "ArchitectureSchedule",
    "ConnectivitySummary",
    "CrossStitchFusion",
    "NDDRFusion",
    "NDDRLayer",
    "draw_connectivity",
]

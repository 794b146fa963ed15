"""NDDR-CNN and MTL-NAS: task-specific backbones fused stage by stage."""

from tfmtl.sharing.nddr.architecture_schedule import ArchitectureSchedule
from tfmtl.sharing.nddr.connectivity import draw_connectivity
from tfmtl.sharing.nddr.connectivity_summary import ConnectivitySummary
from tfmtl.sharing.nddr.cross_stitch_fusion import CrossStitchFusion
from tfmtl.sharing.nddr.mtl_nas import GATE_MODES, MTLNAS
from tfmtl.sharing.nddr.nddr import NDDR
from tfmtl.sharing.nddr.nddr_fusion import NDDRFusion
from tfmtl.sharing.nddr.nddr_layer import NDDRLayer

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

"""Training: schedules, actions, step functions and outer loops."""

from tfmtl.trainers import checkpointing
from tfmtl.trainers.actions import (
    Action,
    EarlyStopping,
    Evaluate,
    ExportBest,
    SaveCheckpoint,
    StopTraining,
    TrainingDivergedError,
)
from tfmtl.trainers.builder import build_controller
from tfmtl.trainers.controller import Controller
from tfmtl.trainers.distribute import ClusterInfo, make_strategy
from tfmtl.trainers.nan_guard import NanGuard
from tfmtl.trainers.schedules import Alternating, Joint, Plan, SampledTask
from tfmtl.trainers.set_variable import SetVariable
from tfmtl.trainers.trainer import Trainer

__all__ = [
    "Action",
    "Alternating",
    "ClusterInfo",
    "Controller",
    "EarlyStopping",
    "Evaluate",
    "ExportBest",
    "Joint",
    "NanGuard",
    "Plan",
    "SampledTask",
    "SaveCheckpoint",
    "SetVariable",
    "StopTraining",
    "Trainer",
    "TrainingDivergedError",
    "build_controller",
    "checkpointing",
    "make_strategy",
]

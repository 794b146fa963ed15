"""Multi-task model, backbones and heads."""

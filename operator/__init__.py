"""KubeFoundry operator: reconciles KubeFoundry custom resources into provider resources.

Folders: `models/` (resource shapes), `providers/` (one module per provider), `runtime/` (shared
machinery), one folder per controller (`deployments/`, `installs/`). The API may import models,
providers and runtime, never a controller (tests/unit/test_layout.py).
"""

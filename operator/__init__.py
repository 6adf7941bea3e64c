"""KubeFoundry operator: reconciles KubeFoundry custom resources into provider resources."""

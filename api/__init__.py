"""KubeFoundry REST API: a stateless HTTP view over KubeFoundry custom resources."""

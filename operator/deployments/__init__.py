"""The KubeFoundryDeployment controller: kopf wiring, the reconciler and status computation.
Only the operator's entry point imports it; the API and the other controllers never do."""

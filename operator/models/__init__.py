"""Pydantic models of our resources: the single source of the CRDs, the OpenAPI document and validation.
Anything in `kubefoundry` may import them; they import nothing of KubeFoundry but each other and the runtime."""

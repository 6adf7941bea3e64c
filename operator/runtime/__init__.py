"""Shared machinery of the operator and the API: the Kubernetes client, Events, the work queue, leader
election, settings, the operator instance, and the helm CLI. Anything in `kubefoundry` may import it."""

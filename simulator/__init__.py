"""The local simulation: stand-ins for provider operators that cannot run here, and the local charts.
Tests and `make dev` run it; the product packages (`kubefoundry.operator`, `kubefoundry.api`) never import it."""

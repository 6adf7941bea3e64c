"""The ProviderInstall controller: helm install, upgrade and uninstall, the monitor, status and its store.
Only the operator's entry point imports it; the API and the other controllers never do."""

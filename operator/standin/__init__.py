"""Stand-ins for provider operators that cannot run on the local cluster (NOT the real operators)."""

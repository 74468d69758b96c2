"""policyforge agents package (built in later issues)."""

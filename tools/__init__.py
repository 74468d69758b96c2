"""policyforge tools package (built in later issues)."""

"""policyforge sandbox package (built in later issues)."""

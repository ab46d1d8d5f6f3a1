"""sampleChop's chopping engine, its command line and its HTTP service."""

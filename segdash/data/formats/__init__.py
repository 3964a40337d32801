"""On-disk dataset formats; each module registers one format."""

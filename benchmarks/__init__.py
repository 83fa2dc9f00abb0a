"""Side-by-side benchmarks of zoo against timm and eva; see benchmarks/README.md."""

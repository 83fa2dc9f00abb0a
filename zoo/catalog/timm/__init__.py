"""timm as catalogue entries: its registry collected into one index file, and names derived from it."""

"""How bytes travel: HTTP with deadlines, the Hugging Face Hub cache, mirrors, integrity checks (no torch)."""

"""Property-based fuzzing of the decision pipeline against an independent oracle (see README.md)."""

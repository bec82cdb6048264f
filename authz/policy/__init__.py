"""Policy-as-code (pipeline stage 8): Cedar policies and schema from ``policies/``."""

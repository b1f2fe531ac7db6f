"""Pipeline steps: each takes an artifact and writes a new, validated one."""

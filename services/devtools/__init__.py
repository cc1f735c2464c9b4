"""Developer tooling that the Makefile drives (code generation)."""

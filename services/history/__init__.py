"""The history service: what each profile watches, continue watching, popularity and trending."""

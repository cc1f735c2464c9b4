"""The catalog service: titles, their regional availability and artwork metadata."""

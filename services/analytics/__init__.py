"""The analytics warehouse: every users, catalog and history event in a star schema,
and the reports read from it."""

"""Adapters of :class:`services.users.store.UserStore`."""

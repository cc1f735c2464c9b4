"""The users service: accounts, viewing profiles, preferences and sign-in."""

"""Sagas orchestrated by the users service (issue 18): profile update, account deletion."""

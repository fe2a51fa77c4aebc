"""Users, sign-in and the account pages (django-allauth underneath)."""

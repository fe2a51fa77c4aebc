"""django-allauth strings shown on Cuspid pages, listed so ``makemessages`` copies them into
our catalogue.

Our catalogue (``LOCALE_PATHS``) takes precedence over allauth's own, which is written in
European French ("e-mail", a space before "?"); these entries give our users Canadian French
that matches the rest of the interface. Nothing imports this module at run time.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

ALLAUTH_STRINGS = (
    # Sign-in form.
    gettext_noop("Password"),
    gettext_noop("The email address and/or password you specified are not correct."),
    gettext_noop("Too many failed login attempts. Try again later."),
    gettext_noop("This account is currently inactive."),
    # Password change and reset forms.
    gettext_noop("Current Password"),
    gettext_noop("New Password"),
    gettext_noop("New Password (again)"),
    gettext_noop("Please type your current password."),
    gettext_noop("You must type the same password each time."),
)

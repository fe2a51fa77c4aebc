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
    # Step-up (re-authentication) form.
    gettext_noop("Incorrect password."),
    # Second factors: form labels and errors (allauth.mfa forms and adapter).
    gettext_noop("Authenticator code"),
    gettext_noop("Incorrect code."),
    gettext_noop("Be patient, you are sending too many requests."),
    gettext_noop(
        "You cannot generate recovery codes without having two-factor authentication enabled."
    ),
    gettext_noop(
        "You cannot activate two-factor authentication until you have verified your email address."
    ),
    # Second factors: messages after a change (allauth's templates/mfa/messages/*.txt).
    gettext_noop("Authenticator app activated."),
    gettext_noop("Authenticator app deactivated."),
    gettext_noop("Security key added."),
    gettext_noop("Security key removed."),
    gettext_noop("A new set of recovery codes has been generated."),
    # Two spaces after "them", as in allauth's template.
    gettext_noop("Save them  in a secure location now — they won't be shown again."),
)

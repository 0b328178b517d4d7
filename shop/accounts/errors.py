from shop.core.errors import Conflict, Forbidden, ShopError, Unauthorized, ValidationFailed


class EmailTaken(Conflict):
    slug = "email-taken"
    title = "Email already registered"


class BadCredentials(Unauthorized):
    slug = "bad-credentials"
    title = "Wrong email or password"


class AccountLocked(ShopError):
    status = 429
    slug = "account-locked"
    title = "Too many failed logins"


class AccountDisabled(Forbidden):
    slug = "account-deactivated"
    title = "This account is deactivated"


class InvalidPasswordLink(ValidationFailed):
    slug = "invalid-password-link"
    title = "This link is invalid, used or expired"


class LastAdmin(Conflict):
    slug = "last-admin"
    title = "The shop needs at least one active admin"


class NotOnYourself(Conflict):
    slug = "not-on-yourself"
    title = "Not on your own account"


class RoleRequired(Forbidden):
    slug = "role-required"
    title = "Not allowed for this account"


class LocationNotGranted(Forbidden):
    slug = "location-not-granted"
    title = "Not your location"

from shop.core.errors import Conflict, Forbidden, ShopError, Unauthorized


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


class RoleRequired(Forbidden):
    slug = "role-required"
    title = "Not allowed for this account"


class LocationNotGranted(Forbidden):
    slug = "location-not-granted"
    title = "Not your location"

from shop.core.errors import Conflict, NotFound, ValidationFailed


class ProgrammeNotFound(NotFound):
    slug = "programme-not-found"
    title = "No such aid programme"


class UnknownChannel(ValidationFailed):
    slug = "unknown-channel"
    title = "Unknown sales channel"


class NothingToReverse(Conflict):
    slug = "nothing-to-reverse"
    title = "No counted sale line to reverse"

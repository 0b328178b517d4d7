from shop.core.errors import Conflict, NotFound, ShopError, ValidationFailed


class NothingToShip(Conflict):
    slug = "nothing-to-ship"
    title = "The order has no parcel waiting to be shipped"


class NotShipped(Conflict):
    slug = "not-shipped"
    title = "The parcel has not been shipped"


class PickupNotFound(NotFound):
    slug = "pickup-not-found"
    title = "No pickup is waiting with that code"


class InvalidShipment(ValidationFailed):
    slug = "invalid-shipment"
    title = "Invalid courier or tracking number"


class NotRetryable(Conflict):
    slug = "not-retryable"
    title = "Fulfilment cannot be started again for this order"


class TooManyWrongCodes(ShopError):
    status = 429
    slug = "too-many-wrong-codes"
    title = "Too many wrong pickup codes"

from shop.core.errors import Conflict, ValidationFailed


class InsufficientStock(Conflict):
    slug = "insufficient-stock"
    title = "Not enough stock"


class LotExpired(Conflict):
    slug = "lot-expired"
    title = "Lot is past its best-before date"


class BadQuantity(ValidationFailed):
    slug = "bad-quantity"
    title = "Invalid quantity"

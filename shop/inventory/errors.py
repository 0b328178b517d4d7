from shop.core.errors import Conflict, NotFound, ValidationFailed


class InsufficientStock(Conflict):
    slug = "insufficient-stock"
    title = "Not enough stock"


class LotExpired(InsufficientStock):
    """Not enough stock that may still be sold: the rest is past its best-before date."""

    slug = "lot-expired"
    title = "Lot is past its best-before date"


class BadQuantity(ValidationFailed):
    slug = "bad-quantity"
    title = "Invalid quantity"


class UnknownLot(ValidationFailed):
    slug = "unknown-lot"
    title = "Unknown lot"


class LotDatesDiffer(Conflict):
    slug = "lot-dates-differ"
    title = "Lot already recorded with other dates"


class NotASalesLocation(ValidationFailed):
    slug = "not-a-sales-location"
    title = "Counter sales happen only at halls and fair booths"


class LocationClosed(Conflict):
    """A fair booth sells only between its first and last day (``opens_on``..``closes_on``)."""

    slug = "location-closed"
    title = "This location is not open on that day"


class SaleIdReused(Conflict):
    slug = "client-sale-id-reused"
    title = "This client_sale_id was already used for a different sale"


class TransferNotFound(NotFound):
    slug = "transfer-not-found"
    title = "No such transfer"


class SaleNotFound(NotFound):
    slug = "sale-not-found"
    title = "No such sale"


class TransferClosed(Conflict):
    slug = "transfer-closed"
    title = "Transfer is no longer in transit"


class ReceiptExceedsShipment(Conflict):
    """Nothing was received; the report is kept on the transfer as ``over`` discrepancies."""

    slug = "receipt-exceeds-shipment"
    title = "More received than was sent"
    recorded = True


class BadReason(ValidationFailed):
    slug = "bad-reason"
    title = "Invalid adjustment reason"


class CountBelowReserved(Conflict):
    slug = "count-below-reserved"
    title = "Counted quantity is below what is reserved for orders"


class UnknownLocation(ValidationFailed):
    slug = "unknown-location"
    title = "Unknown location"

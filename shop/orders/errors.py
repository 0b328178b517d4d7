from shop.core.errors import Conflict, Forbidden, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    slug = "order-not-found"
    title = "No such order"


class InvalidLines(ValidationFailed):
    slug = "invalid-lines"
    title = "Invalid order lines"


class InvalidDelivery(ValidationFailed):
    slug = "invalid-delivery"
    title = "Invalid delivery"


class EmptyCart(ValidationFailed):
    slug = "empty-cart"
    title = "The cart is empty"


class NotYourOrder(Forbidden):
    slug = "not-your-order"
    title = "Not your order"


class BadTransition(Conflict):
    """The order is not in a state that allows this (paying an expired order, cancelling a shipped one)."""

    slug = "order-state"
    title = "Not possible in the order's current state"


class RefundRequestNeeded(Conflict):
    """A buyer cannot take back money by cancelling: a paid order's refund is a request staff decide."""

    slug = "refund-request-needed"
    title = "A paid order is refunded on request"


class CatalogueChanged(Conflict):
    """Prices or certificates changed each time between reading the catalogue and writing the order."""

    slug = "catalogue-changed"
    title = "Prices changed while the order was placed"

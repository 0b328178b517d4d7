from shop.core.errors import Conflict, NotFound, ValidationFailed


class RefundRequestNotFound(NotFound):
    slug = "refund-request-not-found"
    title = "No such refund request"


class InvalidRefundRequest(ValidationFailed):
    slug = "invalid-refund-request"
    title = "Invalid refund request"


class RefundRequestOpen(Conflict):
    slug = "refund-request-open"
    title = "A refund request for this order is already open"


class NotRefundable(Conflict):
    slug = "not-refundable"
    title = "Nothing on this order can be refunded"


class RequestDecided(Conflict):
    slug = "refund-request-decided"
    title = "The refund request was already decided"

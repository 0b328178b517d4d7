from shop.core.errors import Conflict, NotFound, ShopError, Unavailable, ValidationFailed


class WrongGateway(Conflict):
    slug = "wrong-gateway"
    title = "The order is paid through another gateway"


class AmountMismatch(ValidationFailed):
    slug = "amount-mismatch"
    title = "The amount does not match the order"


class UnknownPaymentMethod(ValidationFailed):
    slug = "unknown-payment-method"
    title = "Unknown payment method"


class RefundTooLarge(ValidationFailed):
    slug = "refund-too-large"
    title = "Refund above what was paid"


class InvalidRefund(ValidationFailed):
    slug = "invalid-refund"
    title = "Invalid refund"


class NothingToRefund(Conflict):
    slug = "nothing-to-refund"
    title = "Nothing left to refund"


class BadSignature(ShopError):
    status = 400
    slug = "bad-signature"
    title = "Invalid webhook signature"


class StripeNotEnabled(NotFound):
    slug = "stripe-not-enabled"
    title = "Stripe payments are not enabled on this shop"


class GatewayUnavailable(Unavailable):
    slug = "gateway-unavailable"
    title = "The payment service is unreachable"


class GatewayDeclined(ShopError):
    status = 502
    slug = "gateway-error"
    title = "The payment service refused the request"

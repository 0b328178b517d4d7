from shop.core.errors import Conflict, Forbidden, NotFound, ShopError, ValidationFailed


class NotAWorkUnit(NotFound):
    slug = "not-a-work-unit"
    title = "No such work unit"


class InvalidCreditCode(ValidationFailed):
    slug = "invalid-credit-code"
    title = "Invalid unified social credit code"


class InvalidUnitData(ValidationFailed):
    slug = "invalid-work-unit"
    title = "Invalid work-unit data"


class VerificationUnchanged(Conflict):
    slug = "verification-state"
    title = "The unit is already in that verification state"


class UnitNotVerified(Conflict):
    slug = "unit-not-verified"
    title = "The work unit is not verified"


class NotUnitManager(Forbidden):
    slug = "not-unit-manager"
    title = "Only the unit's manager, aid officers and admins may do this"


class BadBulkFile(ValidationFailed):
    slug = "bad-bulk-file"
    title = "The bulk order file cannot be used"


class BulkStockShort(Conflict):
    slug = "bulk-stock-short"
    title = "Not enough stock for the bulk order"


class InvoiceRefused(Conflict):
    slug = "invoice-refused"
    title = "No invoice can be requested for this order"


class InvoiceAlreadyRequested(Conflict):
    slug = "invoice-already-requested"
    title = "An invoice was already requested for this order"


class InvoiceNotFound(NotFound):
    slug = "invoice-not-found"
    title = "No such invoice"


class InvoiceState(Conflict):
    slug = "invoice-state"
    title = "Not possible in the invoice's current state"


class InvalidInvoice(ValidationFailed):
    slug = "invalid-invoice"
    title = "Invalid invoice data"


class CardNotFound(ValidationFailed):
    slug = "card-not-found"
    title = "No such pickup card"


class CardExpired(Conflict):
    slug = "card-expired"
    title = "The pickup card has expired"


class CardBalanceShort(Conflict):
    slug = "card-balance-short"
    title = "The pickup card's balance does not cover the amount"


class TooManyWrongCards(ShopError):
    status = 429
    slug = "too-many-wrong-card-codes"
    title = "Too many wrong card codes"


class CardBatchIssued(Conflict):
    slug = "card-batch-issued"
    title = "This batch was issued already; its codes were shown once"


class NotPayableOnAccount(Conflict):
    slug = "not-payable-on-account"
    title = "This order cannot be paid on account"


class InvalidAccountPayment(ValidationFailed):
    slug = "invalid-account-payment"
    title = "Invalid account payment"

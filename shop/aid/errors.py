from shop.core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed


class ProgrammeNotFound(NotFound):
    slug = "programme-not-found"
    title = "No such aid programme"


class UnknownChannel(ValidationFailed):
    slug = "unknown-channel"
    title = "Unknown sales channel"


class NothingToReverse(Conflict):
    slug = "nothing-to-reverse"
    title = "No counted sale line to reverse"


class BadSaleLine(ValidationFailed):
    slug = "bad-sale-line"
    title = "Invalid sale line"


class RefundExceedsSale(Conflict):
    slug = "refund-exceeds-sale"
    title = "Refund larger than the counted sale"


class ProgrammeExists(Conflict):
    slug = "programme-exists"
    title = "Programme code already used"


class ProgrammeOverlap(Conflict):
    slug = "programme-overlap"
    title = "Programme periods overlap"


class BadTarget(ValidationFailed):
    slug = "bad-target"
    title = "Invalid programme target"


class BadDateRange(ValidationFailed):
    slug = "bad-date-range"
    title = "Invalid date range"


class RangeTooLong(ValidationFailed):
    slug = "range-too-long"
    title = "Date range too long"


class ExportTooLarge(ValidationFailed):
    slug = "export-too-large"
    title = "Too many rows to export"


class OffshopSaleNotFound(NotFound):
    slug = "offshop-sale-not-found"
    title = "No such off-shop sale"


class BadOffshopSale(ValidationFailed):
    slug = "bad-offshop-sale"
    title = "Invalid off-shop sale"


class DuplicateEvidence(Conflict):
    slug = "duplicate-evidence"
    title = "Evidence already recorded for this producer"


class SecondOfficerRequired(Forbidden):
    slug = "second-officer-required"
    title = "A second officer must decide"


class OffshopSaleNotPending(Conflict):
    slug = "offshop-sale-not-pending"
    title = "Off-shop sale already decided"


class OffshopSaleNotApproved(Conflict):
    slug = "offshop-sale-not-approved"
    title = "Only an approved off-shop sale can be voided"


class OfficerRequired(Forbidden):
    slug = "aid-officer-required"
    title = "Aid officers only"


class PlatformNotFound(NotFound):
    slug = "platform-not-found"
    title = "No such partner platform"


class ImportNotFound(NotFound):
    slug = "import-not-found"
    title = "No such sales import"


class BadImport(ValidationFailed):
    slug = "bad-import"
    title = "Sales file not accepted"


class ImportNotVoidable(Conflict):
    slug = "import-not-voidable"
    title = "Only a finished import can be voided"


class PlatformKeyRefused(Unauthorized):
    slug = "platform-key-refused"
    title = "Unknown or missing platform API key"


class CharitySaleNotFound(NotFound):
    slug = "charity-sale-not-found"
    title = "No such charity sale"


class BadCharitySale(ValidationFailed):
    slug = "bad-charity-sale"
    title = "Invalid charity sale"


class CharitySaleNotPending(Conflict):
    slug = "charity-sale-not-pending"
    title = "Charity sale already decided"


class CharitySaleNotApproved(Conflict):
    slug = "charity-sale-not-approved"
    title = "Only an approved charity sale can be voided"


class DuplicateCharityEvidence(Conflict):
    slug = "duplicate-evidence"
    title = "Evidence already recorded for a charity sale"

from shop.core.errors import Conflict, NotFound, ValidationFailed


class ProductNotFound(NotFound):
    slug = "product-not-found"
    title = "No such product"


class ProducerNotFound(NotFound):
    slug = "producer-not-found"
    title = "No such producer"


class LocationNotFound(NotFound):
    slug = "location-not-found"
    title = "No such location"


class UnknownSku(ValidationFailed):
    slug = "unknown-sku"
    title = "Unknown SKU"


class BadFilter(ValidationFailed):
    slug = "bad-filter"
    title = "Invalid filter"


class CertificateNotFound(NotFound):
    slug = "certificate-not-found"
    title = "No such certificate"


class CertificateExists(Conflict):
    slug = "certificate-exists"
    title = "Certificate already registered"

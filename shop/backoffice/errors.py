from shop.core.errors import Conflict, NotFound, ValidationFailed


class ProducerCodeTaken(Conflict):
    slug = "producer-code-taken"
    title = "Producer code already taken"


class SkuTaken(Conflict):
    slug = "sku-taken"
    title = "SKU already taken"


class LocationCodeTaken(Conflict):
    slug = "location-code-taken"
    title = "Location code already taken"


class ProducerNotFoundByCode(NotFound):
    slug = "producer-not-found"
    title = "No such producer"


class VariantNotFound(NotFound):
    slug = "variant-not-found"
    title = "No such variant"


class NotAnOperator(ValidationFailed):
    slug = "not-an-operator"
    title = "Only operators are assigned to locations"


class CertificateDocumentMissing(NotFound):
    slug = "certificate-document-not-found"
    title = "No scanned document for this certificate"


class CategoryTaken(Conflict):
    slug = "category-code-taken"
    title = "Category code already taken"

from shop.core.errors import NotFound, ShopError, ValidationFailed


class NotAnImage(ShopError):
    status = 415
    slug = "unsupported-media-type"
    title = "Not a JPEG, PNG or WebP image"


class NotADocument(ShopError):
    status = 415
    slug = "unsupported-media-type"
    title = "Not a PDF, JPEG, PNG or WebP file"


class BrokenImage(ValidationFailed):
    slug = "broken-image"
    title = "The image cannot be read"


class TooManyPixels(ValidationFailed):
    slug = "image-too-many-pixels"
    title = "The image has too many pixels"


class UploadTooLarge(ShopError):
    status = 413
    slug = "too-large"
    title = "The file is too large"


class EmptyUpload(ValidationFailed):
    slug = "empty-upload"
    title = "No file was sent"


class ImageNotFound(NotFound):
    slug = "image-not-found"
    title = "No such image"


class StoredFileMissing(NotFound):
    slug = "file-not-found"
    title = "No such file"

from shop.core.errors import Conflict, NotFound, ValidationFailed


class CampaignNotFound(NotFound):
    slug = "campaign-not-found"
    title = "No such campaign"


class InvalidCampaign(ValidationFailed):
    slug = "invalid-campaign"
    title = "Invalid campaign"


class CampaignCodeTaken(Conflict):
    slug = "campaign-code-taken"
    title = "A campaign with this code exists"


class CampaignNotOpen(Conflict):
    slug = "campaign-not-open"
    title = "The campaign does not take pledges now"


class CapReached(Conflict):
    slug = "campaign-cap-reached"
    title = "Not enough units are left in this campaign"


class BuyerCapReached(Conflict):
    slug = "buyer-cap-reached"
    title = "This would exceed what one buyer may pledge"


class InvalidPledge(ValidationFailed):
    slug = "invalid-pledge"
    title = "Invalid pledge"


class PledgeNotFound(NotFound):
    slug = "pledge-not-found"
    title = "No such pledge"


class PledgeNotCancellable(Conflict):
    slug = "pledge-not-cancellable"
    title = "This pledge can no longer be cancelled"


class HarvestRefused(Conflict):
    slug = "harvest-refused"
    title = "The harvest cannot be recorded"

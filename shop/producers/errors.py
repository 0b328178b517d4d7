"""Errors of settlement, fees and households."""

from __future__ import annotations

from shop.core.errors import Conflict, Forbidden, NotFound, ValidationFailed


class InvalidPeriod(ValidationFailed):
    slug = "invalid-period"
    title = "Invalid settlement period"


class StatementNotFound(NotFound):
    slug = "statement-not-found"
    title = "Statement not found"


class StatementState(Conflict):
    slug = "statement-state"
    title = "The statement is not in a state that allows this"


class PayoutAlreadyRecorded(Conflict):
    slug = "payout-already-recorded"
    title = "The payout of this statement is already recorded"


class InvalidFee(ValidationFailed):
    slug = "invalid-fee"
    title = "Invalid fee"


class InvalidHousehold(ValidationFailed):
    slug = "invalid-household"
    title = "Invalid household"


class HouseholdTaken(Conflict):
    slug = "household-taken"
    title = "Household reference already registered"


class HouseholdNotFound(NotFound):
    slug = "household-not-found"
    title = "Household not found"


class InvalidIncome(ValidationFailed):
    slug = "invalid-income"
    title = "Invalid household income"


class NotYourProducer(Forbidden):
    slug = "not-your-producer"
    title = "This is another producer's data"


class InvalidPayout(ValidationFailed):
    slug = "invalid-payout"
    title = "Invalid payout"

"""The admins' people pages: list and search, invite, change role and halls, deactivate, send a link."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length

from shop.accounts import people
from shop.accounts.auth import require_staff_page
from shop.accounts.models import INVITABLE_ROLES, ROLES, User
from shop.catalog.models import Location, Producer
from shop.core.db import atomic, db
from shop.core.errors import ShopError
from shop.core.web import localized

bp = Blueprint("people_web", __name__, url_prefix="/admin/people")
PER_PAGE = 25

ROLE_LABELS = {
    "admin": _l("Admin"),
    "aid_officer": _l("Aid officer"),
    "operator": _l("Hall operator"),
    "producer": _l("Producer"),
    "customer": _l("Customer"),
}
STATUS_LABELS = {
    "active": _l("Active"),
    "invited": _l("Invited, no password yet"),
    "deactivated": _l("Deactivated"),
}
_REQUIRED = _l("Please fill this in.")
# The use cases' field messages (English, as the API sends them) in the page's language.
FIELD_MESSAGES = {
    "already has an account": _l("This email already has an account."),
    "unknown location": _l("Unknown hall."),
    "required for operators": _l("Choose at least one hall for an operator."),
    "only for the producer role": _l("Only a producer account is bound to a producer."),
    "required for the producer role": _l("Choose the producer this account belongs to."),
    "unknown producer": _l("Unknown producer."),
    "unknown role": _l("Choose a role."),
    "account is deactivated": _l("Reactivate the account first."),
}
REFUSALS = {
    "last-admin": _l("This is the only active admin. Make another admin first."),
    "not-on-yourself": _l("You cannot deactivate your own account. Ask another admin."),
}


class PersonForm(FlaskForm):
    name = StringField("name", validators=[DataRequired(_REQUIRED), Length(max=120)])
    role = SelectField("role", validators=[DataRequired(_REQUIRED)])
    locations = SelectMultipleField("locations", choices=[])
    producer = SelectField("producer", choices=[], validate_choice=False)


class InviteForm(PersonForm):
    email = EmailField(
        "email",
        validators=[
            DataRequired(_REQUIRED),
            Email(_l("Please enter a valid email address."), check_deliverability=False),
            Length(max=254),
        ],
    )


def _choices(form: PersonForm, roles: tuple[str, ...]) -> None:
    form.role.choices = [(r, str(ROLE_LABELS[r])) for r in roles]
    halls = db.session.scalars(select(Location).where(Location.kind != "transit").order_by(Location.code))
    form.locations.choices = [(loc.code, f"{localized(loc, 'name')} ({loc.code})") for loc in halls]
    producers = db.session.scalars(select(Producer).order_by(Producer.code))
    form.producer.choices = [("", "—")] + [(p.code, f"{localized(p, 'name')} ({p.code})") for p in producers]


def _show_refusal(err: ShopError, form: PersonForm) -> None:
    """Put a use case's refusal next to the field it is about, in the page's language."""
    placed = False
    for e in err.errors or []:
        field = getattr(form, e.get("field", ""), None)
        if field is not None:
            field.errors = [*field.errors, str(FIELD_MESSAGES.get(e.get("message", ""), err.detail))]
            placed = True
    if not placed:
        flash(str(REFUSALS.get(err.slug, err.detail)), "error")


@bp.get("/")
@require_staff_page("admin")
def index():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    q = (request.args.get("q") or "").strip()[:100]
    role = request.args.get("role") if request.args.get("role") in ROLES else ""
    status = request.args.get("status") if request.args.get("status") in people.STATUSES else ""
    rows, total = people.list_people(
        q=q, role=role or None, status=status or None, page=page, per_page=PER_PAGE
    )
    return render_template(
        "people/list.html",
        people_rows=rows,
        total=total,
        page=page,
        pages=max(1, (total + PER_PAGE - 1) // PER_PAGE),
        q=q,
        role=role,
        status=status,
        roles=ROLES,
        statuses=people.STATUSES,
        role_labels=ROLE_LABELS,
        status_labels=STATUS_LABELS,
        status_of=people.status_of,
    )


@bp.route("/invite", methods=["GET", "POST"])
@require_staff_page("admin")
def invite():
    form = InviteForm()
    _choices(form, INVITABLE_ROLES)
    if form.validate_on_submit():
        try:
            with atomic():
                user = people.invite_staff(
                    email=form.email.data,
                    name=form.name.data,
                    role=form.role.data,
                    location_codes=form.locations.data if form.role.data == "operator" else [],
                    producer_code=(form.producer.data or None) if form.role.data == "producer" else None,
                    actor=current_user,
                )
        except ShopError as err:
            _show_refusal(err, form)
        else:
            flash(_("Invitation sent to %(email)s.", email=user.email), "ok")
            return redirect(url_for("people_web.index"))
    status = 422 if form.errors else 200
    return render_template("people/invite.html", form=form, role_labels=ROLE_LABELS), status


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@require_staff_page("admin")
def edit(user_id: int):
    person = people.get_person(user_id)
    form = PersonForm(obj=None if request.method == "POST" else _form_data(person))
    _choices(form, ROLES)
    if form.validate_on_submit():
        try:
            with atomic():
                people.update_person(
                    person.id,
                    actor=current_user,
                    name=form.name.data,
                    role=form.role.data,
                    location_codes=form.locations.data if form.role.data == "operator" else [],
                    producer_code=(form.producer.data or None) if form.role.data == "producer" else None,
                )
        except ShopError as err:
            _show_refusal(err, form)
        else:
            flash(_("Saved."), "ok")
            return redirect(url_for("people_web.edit", user_id=person.id))
    status = 422 if form.errors else 200
    return (
        render_template(
            "people/edit.html",
            form=form,
            person=db.session.get(User, user_id),
            person_status=people.status_of(person),
            status_labels=STATUS_LABELS,
            role_labels=ROLE_LABELS,
        ),
        status,
    )


def _form_data(person: User):
    class Data:
        name = person.name
        role = person.role
        locations = [loc.code for loc in person.locations]
        producer = person.producer.code if person.producer else ""

    return Data


def _act(user_id: int, action, done: str):
    try:
        with atomic():
            action(user_id, actor=current_user)
    except ShopError as err:
        flash(
            str(
                REFUSALS.get(err.slug)
                or FIELD_MESSAGES.get((err.errors or [{}])[0].get("message", ""), err.detail)
            ),
            "error",
        )
    else:
        flash(done, "ok")
    return redirect(url_for("people_web.edit", user_id=user_id))


@bp.post("/<int:user_id>/deactivate")
@require_staff_page("admin")
def deactivate(user_id: int):
    return _act(user_id, people.deactivate, _("Deactivated: every session of this account has ended."))


@bp.post("/<int:user_id>/reactivate")
@require_staff_page("admin")
def reactivate(user_id: int):
    return _act(user_id, people.reactivate, _("Reactivated."))


@bp.post("/<int:user_id>/password-link")
@require_staff_page("admin")
def password_link(user_id: int):
    return _act(user_id, people.send_password_link, _("A link to set a password is on its way."))

"""Sign-up, sign-in, sign-out and password pages (web session)."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from shop.accounts import passwords, services, sessions
from shop.accounts.errors import AccountDisabled, AccountLocked, BadCredentials, EmailTaken
from shop.accounts.landing import landing_url, safe_path
from shop.core.db import atomic
from shop.core.errors import ShopError
from shop.core.limits import limit_auth, limit_password_reset, limit_password_reset_email, limit_register

bp = Blueprint("accounts", __name__)

_REQUIRED = _l("Please fill this in.")
_EMAIL = _l("Please enter a valid email address.")
_PASSWORD_LENGTH = _l("At least 8 and at most 128 characters.")
_LINK_TOKEN = "password_link"  # session key: the token of the password link being used
# Pages a person should not be sent back to after signing in.
_NOT_BACK_TO = ("/login", "/register", "/password/")


class LoginForm(FlaskForm):
    email = EmailField("email", validators=[DataRequired(_REQUIRED), Length(max=254)])
    password = PasswordField("password", validators=[DataRequired(_REQUIRED), Length(max=128)])
    next = HiddenField()


class RegisterForm(FlaskForm):
    email = EmailField(
        "email",
        validators=[DataRequired(_REQUIRED), Email(_EMAIL, check_deliverability=False), Length(max=254)],
    )
    name = StringField("name", validators=[DataRequired(_REQUIRED), Length(max=120)])
    password = PasswordField(
        "password", validators=[DataRequired(_REQUIRED), Length(8, 128, _PASSWORD_LENGTH)]
    )
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "email",
        validators=[DataRequired(_REQUIRED), Email(_EMAIL, check_deliverability=False), Length(max=254)],
    )


class SetPasswordForm(FlaskForm):
    token = HiddenField(validators=[DataRequired(), Length(max=200)])
    password = PasswordField(
        "password", validators=[DataRequired(_REQUIRED), Length(8, 128, _PASSWORD_LENGTH)]
    )
    confirm = PasswordField(
        "confirm", validators=[DataRequired(_REQUIRED), EqualTo("password", _l("The two passwords differ."))]
    )


def _came_from() -> str:
    """The page of this shop the visitor came from (same-origin Referer), for signing in from a link."""
    ref = urlsplit(request.referrer or "")
    if ref.netloc != request.host:
        return ""
    path = ref.path + (f"?{ref.query}" if ref.query else "")
    return "" if ref.path.startswith(_NOT_BACK_TO) else (safe_path(path) or "")


def _minutes(err: AccountLocked) -> int:
    return max(1, math.ceil(int(err.extra.get("retry_after") or 60) / 60))


@bp.route("/login", methods=["GET", "POST"])
@limit_auth
def login():
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(landing_url(current_user, request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next") or _came_from()
    if form.validate_on_submit():
        try:
            user = services.sign_in(
                email=form.email.data, password=form.password.data, client=request.remote_addr or ""
            )
        except BadCredentials:
            form.password.errors.append(_("Wrong email or password."))
        except AccountLocked as err:
            form.password.errors.append(
                _(
                    "Too many wrong passwords. Try again in %(minutes)d minutes, or set a new password.",
                    minutes=_minutes(err),
                )
            )
        except AccountDisabled:
            form.email.errors.append(_("This account is deactivated. Please ask an administrator."))
        else:
            sessions.begin(user)
            return redirect(landing_url(user, form.next.data))
    return render_template("accounts/login.html", form=form)


@bp.route("/register", methods=["GET", "POST"])
@limit_register
def register():
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = request.args.get("next") or _came_from()
    if form.validate_on_submit():
        try:
            with atomic():
                user = services.register_customer(
                    email=form.email.data, password=form.password.data, name=form.name.data
                )
        except EmailTaken:
            form.email.errors.append(_("This email already has an account. Sign in, or set a new password."))
        except ShopError as err:
            flash(err.detail, "error")
        else:
            sessions.begin(user)
            flash(_("Welcome! Your account is ready."), "ok")
            return redirect(landing_url(user, form.next.data))
    return render_template("accounts/register.html", form=form)


@bp.post("/logout")
def logout():
    with atomic():
        sessions.end()
    return redirect("/")


@bp.route("/password/forgot", methods=["GET", "POST"])
@limit_password_reset
@limit_password_reset_email
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        with atomic():
            passwords.request_reset(form.email.data)
        minutes = current_app.extensions["settings"].PASSWORD_RESET_TTL_SECONDS // 60
        flash(
            _(
                "If %(email)s has an account, a link to set a new password is on its way. "
                "It works once, for %(minutes)d minutes.",
                email=form.email.data,
                minutes=minutes,
            ),
            "ok",
        )
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/password/set", methods=["GET", "POST"])
@limit_password_reset
def set_password():
    if request.method == "GET" and "token" in request.args:
        # Keep the token out of the address bar (history of a shared tablet) and of the Referer of
        # every later request: hold it in the signed session and show the page under a clean address.
        session[_LINK_TOKEN] = request.args.get("token", "")[:200]
        return redirect(url_for("accounts.set_password"), 303)
    form = SetPasswordForm()
    if request.method == "GET":
        form.token.data = session.get(_LINK_TOKEN, "")
    link_error = None
    if form.validate_on_submit():
        try:
            with atomic():
                passwords.confirm(form.token.data, form.password.data)
        except ShopError as err:
            if err.errors and err.errors[0]["field"] == "token":
                link_error = _("This link is invalid, was used already or has expired. Ask for a new one.")
            else:
                raise
        else:
            sessions.forget()
            session.pop(_LINK_TOKEN, None)
            flash(_("Your password is set. Sign in with it now."), "ok")
            return redirect(url_for("accounts.login"))
    elif form.token.errors:
        link_error = _("This link is incomplete. Open the link from the email again.")
    resp = make_response(render_template("accounts/set_password.html", form=form, link_error=link_error))
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return resp

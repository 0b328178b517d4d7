"""Sign-up, sign-in and sign-out pages (web session)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from shop.accounts import services
from shop.core.db import atomic
from shop.core.errors import ShopError
from shop.core.limits import limit_auth

bp = Blueprint("accounts", __name__)


class LoginForm(FlaskForm):
    email = EmailField("email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=128)])


class RegisterForm(FlaskForm):
    email = EmailField(
        "email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)]
    )
    name = StringField("name", validators=[DataRequired(), Length(max=120)])
    password = PasswordField("password", validators=[DataRequired(), Length(min=8, max=128)])


def _safe_next(default: str) -> str:
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    if target and not parts.scheme and not parts.netloc and target.startswith("/"):
        return target
    return default


@bp.route("/login", methods=["GET", "POST"])
@limit_auth
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            with atomic():
                user = services.authenticate(email=form.email.data, password=form.password.data)
        except services.BadCredentials:
            with atomic():
                services.record_failed_login(form.email.data)
            flash(_("Wrong email or password."), "error")
        except ShopError as err:
            flash(err.detail, "error")
        else:
            login_user(user)
            default = url_for("console.index") if user.is_staff and "console.index" in _endpoints() else "/"
            return redirect(_safe_next(default))
    return render_template("accounts/login.html", form=form)


def _endpoints() -> set[str]:
    return set(current_app.view_functions)


@bp.route("/register", methods=["GET", "POST"])
@limit_auth
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            with atomic():
                user = services.register_customer(
                    email=form.email.data, password=form.password.data, name=form.name.data
                )
        except ShopError as err:
            flash(err.detail, "error")
        else:
            login_user(user)
            flash(_("Welcome! Your account is ready."), "ok")
            return redirect(_safe_next("/"))
    return render_template("accounts/register.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    return redirect("/")

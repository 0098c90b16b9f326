"""The console's blueprint and its login, logout and home pages; the other pages are in orders.py,
operations.py, evidence.py and bulk.py (each registers its views on ``bp``)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from . import session as web_session

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")


def gateway():
    return current_app.extensions["gateway"]


@bp.before_request
def _csrf():
    if request.endpoint == "console.bulk":       # a bulk file's bound, set before the form is read
        request.max_content_length = gateway().settings.upload_max_bytes
    web_session.check_csrf()


@bp.after_request
def _headers(response):
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "frame-ancestors 'none'; form-action 'self'")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_context_processor
def _context():
    return {"csrf_token": web_session.csrf_token, "csrf_field": web_session.CSRF_FIELD}


def _safe_next(target: str | None) -> str | None:
    """Only a path of this console (never another site) after signing in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        who = web_session.sign_in(request.form.get("key", ""))
        if who is None:
            return render_template("login.html", error="unknown or revoked key"), 401
        home = "console.orders" if who.role != "operator" else "console.dispatch"
        return redirect(_safe_next(request.args.get("next")) or url_for(home))
    return render_template("login.html", error=None)


@bp.post("/logout")
def logout():
    web_session.sign_out()
    flash("signed out", "ok")
    return redirect(url_for("console.login"))


@bp.get("/")
def home():
    who = web_session.identity()
    if who is None:
        return redirect(url_for("console.login"))
    return redirect(url_for("console.dispatch" if who.role == "operator" else "console.orders"))


@bp.errorhandler(HTTPException)
def _error(exc: HTTPException):
    return render_template("error.html", code=exc.code, name=exc.name, message=exc.description), exc.code

"""Password hashing: OWASP's Argon2id parameters, old hashes upgraded at login, bounded concurrency."""

import threading
import time

from argon2 import PasswordHasher

from shop.accounts import services
from shop.accounts.models import User
from shop.core.db import db
from tests.conftest import create_user


def test_new_hashes_use_owasp_argon2id_parameters(app, api):
    r = api.post(
        "/api/v1/auth/register", json={"email": "wang@example.cn", "password": "password-123", "name": "王"}
    )
    assert r.status_code == 201
    user = db.session.query(User).one()
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_hash_with_older_parameters_still_logs_in_and_is_upgraded(app, api):
    old = PasswordHasher()  # the library default the shop used before: 64 MiB, t=3, p=4
    user = create_user("zhao@example.cn", password="password-123")
    user.password_hash = old.hash("password-123")
    db.session.commit()
    assert "$m=65536,t=3,p=4$" in db.session.get(User, user.id).password_hash

    tok = api.post("/api/v1/auth/token", json={"email": "zhao@example.cn", "password": "password-123"})
    assert tok.status_code == 200
    db.session.expire_all()
    assert "$m=19456,t=2,p=1$" in db.session.get(User, user.id).password_hash
    again = api.post("/api/v1/auth/token", json={"email": "zhao@example.cn", "password": "password-123"})
    assert again.status_code == 200
    wrong = api.post("/api/v1/auth/token", json={"email": "zhao@example.cn", "password": "password-124"})
    assert wrong.status_code == 401


def test_one_hash_at_a_time_per_process(monkeypatch):
    """Eight threads hashing together: the hasher never sees two of them at once."""
    real = services._hasher
    lock = threading.Lock()
    running = peak = 0

    class Counting:
        def hash(self, password):
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                time.sleep(0.02)  # long enough that unbounded threads would overlap
                return real.hash(password)
            finally:
                with lock:
                    running -= 1

    monkeypatch.setattr(services, "_hasher", Counting())
    results = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(services.hash_password(f"password-{i}")))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(h.startswith("$argon2id$") for h in results)
    assert peak == 1

"""Bar 3 of the classroom issue: owners and a teacher. Students join with the class's code; a
student cannot pause, stop, change, resume or delete another's run (403), the teacher can; the
teacher pins the class run every new socket watches first; 200 simulated students creating runs
get a fair round-robin order, no 409 below the configured cap, and true queue positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import REPO, TINY_MLP, make_settings, receive_until, wait_for

from glassnet.service.app import create_app
from glassnet.service.security import served_links

TEACHER = "teacher-token-0123456789"
CODE = "maths-7b"
RUN = {"spec": TINY_MLP, "epochs": 200, "batch_size": 20}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def wait_status(client: TestClient, run_id: str, status: str) -> dict:
    """Wait for a run's status, asking as the teacher."""

    def seen() -> dict | None:
        run = client.get(f"/api/runs/{run_id}", headers=bearer(TEACHER)).json()
        return run if run["status"] == status else None

    return wait_for(seen, what=f"run {run_id} {status}")


def join(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/join", json={"code": CODE, "name": name})
    assert r.status_code == 200, r.text
    assert client.cookies.get("glassnet_token") == r.json()["token"]  # a browser is logged in
    client.cookies.clear()  # this client plays many people: each request says who it is
    return bearer(r.json()["token"])


@pytest.fixture
def classroom(tmp_path: Path, tiny_dataset: Path):
    settings = make_settings(
        tmp_path / "runs",
        tiny_dataset,
        token=TEACHER,
        join_code=CODE,
        max_active_runs=1,
        max_queued_runs=203,
        max_queued_per_owner=3,
        quota_names_per_hour=1000,  # this client plays the whole class
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_students_control_only_their_own_runs(classroom: TestClient) -> None:
    c, teacher = classroom, bearer(TEACHER)
    ann, bob = join(c, "ann"), join(c, "bob")
    assert c.post("/api/join", json={"code": CODE, "name": "ann"}).status_code == 409  # taken
    assert c.post("/api/join", json={"code": "wrong", "name": "cy"}).status_code == 403
    assert c.post("/api/join", json={"code": CODE, "name": "teacher"}).status_code == 422
    assert c.get("/api/me", headers=ann).json() == {"owner": "ann", "role": "student"}
    assert c.get("/api/me", headers=teacher).json() == {"owner": "teacher", "role": "teacher"}
    assert c.post("/api/runs", json=RUN).status_code == 401  # no token, no run
    a = c.post("/api/runs", json=RUN, headers=ann).json()
    b = c.post("/api/runs", json=RUN, headers=bob).json()
    assert (a["owner"], b["owner"]) == ("ann", "bob") and b["status"] == "queued"
    wait_for(lambda: c.get(f"/api/runs/{a['id']}", headers=ann).json()["step"] > 0, what="ann's run")
    # Bob cannot touch Ann's run in any way; nothing about it changes.
    before = c.get(f"/api/runs/{a['id']}", headers=ann).json()
    for action in ("pause", "stop", "resume", "step"):
        r = c.post(f"/api/runs/{a['id']}/{action}", headers=bob)
        assert r.status_code == 403 and "belongs to ann" in r.json()["detail"], action
    assert c.patch(f"/api/runs/{a['id']}", json={"lr": 0.5}, headers=bob).status_code == 403
    assert c.delete(f"/api/runs/{a['id']}", headers=bob).status_code == 403
    after = c.get(f"/api/runs/{a['id']}", headers=ann).json()
    assert after["status"] == "running" and after["lr"] == before["lr"]
    # Ann can; so can the teacher, on anyone's run; "my runs" lists one's own.
    assert c.post(f"/api/runs/{a['id']}/pause", headers=ann).json()["status"] == "paused"
    assert c.patch(f"/api/runs/{a['id']}", json={"lr": 0.05}, headers=teacher).json()["lr"] == 0.05
    stopped = c.post(f"/api/runs/{a['id']}/stop", headers=teacher).json()
    assert stopped["status"] == "stopped" and stopped["message"] == "stopped by the teacher"  # ann is told
    assert [r["id"] for r in c.get("/api/runs?owner=me", headers=bob).json()] == [b["id"]]
    wait_status(c, b["id"], "running")
    own = c.post(f"/api/runs/{b['id']}/stop", headers=bob).json()
    assert own["status"] == "stopped" and "teacher" not in (own["message"] or "")
    assert c.delete(f"/api/runs/{a['id']}", headers=teacher).status_code == 204
    # The teacher pins the class run: every new socket watches it first.
    assert c.put("/api/class/pinned", json={"run": b["id"]}, headers=ann).status_code == 403
    assert c.put("/api/class/pinned", json={"run": b["id"]}, headers=teacher).json() == {"pinned": b["id"]}
    with c.websocket_connect("/ws", headers=bob) as ws:
        hello = ws.receive_json()
        assert hello["data"]["current"] == b["id"] and hello["data"]["pinned"] == b["id"]
        assert hello["data"]["you"] == {"owner": "bob", "role": "student"}
    view = c.get("/api/class", headers=teacher).json()
    assert view["pinned"] == b["id"] and view["students"] == ["ann", "bob"]
    assert {r["owner"] for r in view["runs"]} == {"bob"}
    # Deleting the class run unpins it, and every page is told.
    with c.websocket_connect("/ws", headers=bob) as ws:
        ws.receive_json()
        assert c.delete(f"/api/runs/{b['id']}", headers=teacher).status_code == 204
        assert receive_until(ws, "deleted")["data"]["id"] == b["id"]
        assert receive_until(ws, "class")["data"] == {"pinned": None}
    assert c.get("/api/class", headers=teacher).json()["pinned"] is None
    # Tokens the teacher hands out work like joined ones.
    handed = c.post("/api/class/students", json={"names": ["dee"]}, headers=teacher).json()
    assert c.get("/api/me", headers=bearer(handed[0]["token"])).json()["owner"] == "dee"
    assert c.post("/api/class/students", json={"names": ["eve"]}, headers=ann).status_code == 403


@pytest.mark.slow
def test_two_hundred_students_queue_fairly(classroom: TestClient) -> None:
    c, teacher = classroom, bearer(TEACHER)
    holder = c.post("/api/runs", json={**RUN, "epochs": 1000}, headers=teacher).json()  # same kind: timed
    assert holder["status"] == "running"
    students = [join(c, f"student{i:03d}") for i in range(200)]
    # Student 0 queues three runs first (the per-owner limit), then everyone else queues one.
    first = [c.post("/api/runs", json=RUN, headers=students[0]) for _ in range(3)]
    assert [r.status_code for r in first] == [201] * 3
    over = c.post("/api/runs", json=RUN, headers=students[0])
    assert over.status_code == 409 and "3 runs waiting" in over.json()["detail"]
    rest = [c.post("/api/runs", json=RUN, headers=s) for s in students[1:]]
    assert [r.status_code for r in rest] == [201] * 199, "no 409 below the cap"
    full = c.post("/api/runs", json=RUN, headers=teacher)  # 202 waiting: one more is the cap (203)
    assert full.status_code == 201
    refused = c.post("/api/runs", json=RUN, headers=teacher)
    assert refused.status_code == 409 and "already waiting" in refused.json()["detail"]
    # Round-robin: student 0's first run, then every other student's, then the teacher's (a new
    # owner in the line when it queued, so last of the first round), then student 0's others.
    ids0 = [r.json()["id"] for r in first]
    rest_ids = [r.json()["id"] for r in rest]
    expected = [ids0[0], *rest_ids, full.json()["id"], ids0[1], ids0[2]]
    queued = c.get("/api/runs?status=queued", headers=teacher).json()
    by_position = sorted(queued, key=lambda r: r["queue_position"])
    assert [r["queue_position"] for r in by_position] == list(range(1, 204))
    order = [r["id"] for r in by_position]
    assert order == expected
    # Estimates: once the holder's speed is measured, starts are known and in queue order.
    wait_for(lambda: c.get(f"/api/runs/{ids0[0]}", headers=teacher).json()["starts_in_s"] is not None)
    queued = c.get("/api/runs?status=queued", headers=teacher).json()
    starts = [r["starts_in_s"] for r in sorted(queued, key=lambda r: r["queue_position"])]
    assert all(s is not None for s in starts) and starts == sorted(starts) and starts[0] > 0
    # Positions are true: stopping the holder starts position 1; everyone moves up one.
    c.post(f"/api/runs/{holder['id']}/stop", headers=teacher)
    wait_status(c, ids0[0], "running")
    assert c.get(f"/api/runs/{order[1]}", headers=teacher).json()["queue_position"] == 1
    assert c.get(f"/api/runs/{ids0[2]}", headers=teacher).json()["queue_position"] == 202
    queued = c.get("/api/runs?status=queued", headers=teacher).json()
    assert {r["id"]: r["queue_position"] for r in queued} == {rid: i + 1 for i, rid in enumerate(order[1:])}


def test_my_digits_are_each_students_own(classroom: TestClient) -> None:
    """Issue 12's "per owner": a student's labelled digits are theirs — listed, exported, relabelled,
    deleted and taught from only by them; the teacher's set is separate."""
    c, teacher = classroom, bearer(TEACHER)
    ann, bob = join(c, "ann"), join(c, "bob")
    ink = np.zeros((28, 28))
    ink[6:22, 12:16] = 1.0  # a plain stroke: a 1
    added = c.post("/api/mydigits", json={"label": 1, "pixels": ink.tolist()}, headers=ann)
    assert added.status_code == 201, added.text
    digit = added.json()["id"]
    theirs = c.post("/api/mydigits", json={"label": 7, "pixels": ink.tolist()}, headers=teacher)
    assert theirs.status_code == 201
    assert [d["label"] for d in c.get("/api/mydigits", headers=ann).json()["digits"]] == [1]
    assert [d["label"] for d in c.get("/api/mydigits", headers=teacher).json()["digits"]] == [7]
    assert c.get("/api/mydigits", headers=bob).json()["count"] == 0
    assert len(c.get("/api/mydigits/idx/labels", headers=ann).content) == 8 + 1  # IDX header + one label
    assert c.patch(f"/api/mydigits/{digit}", json={"label": 4}, headers=bob).status_code == 404
    assert c.delete(f"/api/mydigits/{digit}", headers=bob).status_code == 404
    assert c.get("/api/mydigits", headers=ann).json()["digits"][0]["label"] == 1
    r = c.post("/api/runs", json={"teach": {"from_model": "notes"}, "epochs": 1}, headers=bob)
    assert r.status_code == 422 and "you have labelled 0" in r.json()["detail"]
    assert c.delete(f"/api/mydigits/{digit}", headers=ann).status_code == 204


def test_a_browser_without_a_token_is_sent_to_the_join_page(classroom: TestClient) -> None:
    """With a join code, the dashboard's address sends a browser without a token to the join
    page (303, not a 401), and that page and the static files it loads open without a token;
    nothing else does: the dashboard itself, the API and paths that climb out stay 401."""
    c = classroom
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/join.html"
    for path in (
        "/join.html",
        "/js/joinpage.js",
        "/js/join.js",
        "/js/i18n.js",
        "/style.css",
        "/i18n/zh-CN.json",
    ):
        r = c.get(path)
        assert r.status_code == 200 and r.content, path
        assert "content-security-policy" in r.headers, path
    assert "join code" in c.get("/join.html").text
    for path in ("/index.html", "/api/runs", "/api/class", "/js/../index.html", "/api/models"):
        assert c.get(path, follow_redirects=False).status_code == 401, path
    assert c.get("/", headers=bearer(TEACHER), follow_redirects=False).status_code == 200


def test_the_join_code_fills_the_class_only_up_to_its_size(tmp_path: Path, tiny_dataset: Path) -> None:
    """The code is shared, so whoever has it could add names without end: joins stop at
    ``max_students`` with a 409 that says so (nobody is added); a taken name is still "taken";
    the teacher can still enrol more."""
    settings = make_settings(tmp_path / "runs", tiny_dataset, token=TEACHER, join_code=CODE, max_students=2)
    with TestClient(create_app(settings)) as c:
        join(c, "ann")
        join(c, "bob")
        full = c.post("/api/join", json={"code": CODE, "name": "cy"})
        assert full.status_code == 409 and "the class is full (2 students" in full.json()["detail"]
        taken = c.post("/api/join", json={"code": CODE, "name": "ann"})
        assert taken.status_code == 409 and "taken" in taken.json()["detail"]
        assert c.get("/api/class", headers=bearer(TEACHER)).json()["students"] == ["ann", "bob"]
        r = c.post("/api/class/students", json={"names": ["cy"]}, headers=bearer(TEACHER))
        assert (
            r.status_code == 200 and "cy" in c.get("/api/class", headers=bearer(TEACHER)).json()["students"]
        )


def test_one_client_joins_under_only_a_few_names_an_hour(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = make_settings(
        tmp_path / "runs", tiny_dataset, token=TEACHER, join_code=CODE, quota_names_per_hour=2
    )
    app = create_app(settings)
    with TestClient(app) as c:
        join(c, "ann")
        join(c, "bob")
        r = c.post("/api/join", json={"code": CODE, "name": "cy"})  # a third name from this machine
        assert r.status_code == 429, r.text
        # QA3 class #5: its own code and sentence for a student: the wait and "ask the teacher", and
        # no setting's name (that is for the server's log).
        assert r.json()["code"] == "names_quota"
        assert "ask the teacher" in r.json()["detail"] and "GLASSNET_" not in r.json()["detail"]
        wait = int(r.headers["retry-after"])  # whole seconds, as HTTP says
        assert 3500 < wait <= 3600 and f"retry in {wait} s" in r.json()["detail"]
        # QA3 class #4: one's own name again is "taken, ask the teacher" (409), not an hour's wait, and
        # it hands out no token (anyone may type a name); a rejoin never uses up the quota.
        again = c.post("/api/join", json={"code": CODE, "name": "ANN"})
        assert again.status_code == 409 and again.json()["code"] == "name_taken", again.text
        assert "token" not in again.json() and "glassnet_token" not in again.headers.get("set-cookie", "")
        assert "ask the teacher for your link" in again.json()["detail"]
        wrong = c.post("/api/join", json={"code": "nope", "name": "dee"})
        assert wrong.status_code == 403 and wrong.json()["code"] == "wrong_join_code"
        view = c.get("/api/class", headers=bearer(TEACHER)).json()
        assert view["students"] == ["ann", "bob"]
        # The teacher sees the roster (name, joined, runs) and can make a student's link again.
        assert [(s["name"], s["runs"]) for s in view["roster"]] == [("ann", 0), ("bob", 0)]
        assert all(s["joined"] > 0 for s in view["roster"])
        # A student does not see the roster.
        link = c.post("/api/class/students", json={"names": ["Ann"]}, headers=bearer(TEACHER)).json()[0]
        assert link["name"] == "ann"
        assert c.get("/api/class", headers=bearer(link["token"])).json()["roster"] is None
        assert c.get("/api/me", headers=bearer(link["token"])).json() == {"owner": "ann", "role": "student"}
    with TestClient(app, client=("10.0.0.7", 50000)) as other:  # another machine of the class
        join(other, "cy")


def test_the_join_code_is_read_as_a_phone_types_it(classroom: TestClient) -> None:
    """QA5 class #2: the teacher writes maths-7b on the board; a phone's keyboard capitalises the
    field's first letter or leaves a space after a word it completed. Both were "not this class's
    join code", and the student could not see why. Spaces around it and case do not count; any
    other difference is still a wrong code, and nobody joins with one."""
    for name, typed in (("ann", "Maths-7b"), ("bob", " maths-7b "), ("cy", "MATHS-7B\n")):
        r = classroom.post("/api/join", json={"code": typed, "name": name})
        assert r.status_code == 200, (typed, r.text)
        classroom.cookies.clear()
    for typed in ("maths 7b", "maths-7", "maths-7bb", "maths‑7b"):
        r = classroom.post("/api/join", json={"code": typed, "name": "dee"})
        assert r.status_code == 403 and r.json()["code"] == "wrong_join_code", (typed, r.text)
    view = classroom.get("/api/class", headers=bearer(TEACHER)).json()
    assert view["students"] == ["ann", "bob", "cy"]


def test_the_teacher_is_told_the_addresses_students_open(tmp_path: Path, tiny_dataset: Path) -> None:
    """QA5 class #5: the teacher opens http://127.0.0.1:PORT/ (as serve says) and makes a
    student's link there: it read http://127.0.0.1:PORT/?token=..., which opens on no student's
    device. GET /api/class now tells the teacher this server's addresses for other machines (the
    ones serve prints), from which the page makes the link (classview.js studentLink); nobody
    else is told them."""
    settings = make_settings(
        tmp_path / "runs", tiny_dataset, token=TEACHER, join_code=CODE, host="0.0.0.0", port=8123
    )
    with TestClient(create_app(settings)) as c:
        view = c.get("/api/class", headers=bearer(TEACHER)).json()
        assert view["addresses"] == served_links("0.0.0.0", 8123)[1]
        assert all(a.startswith("http://") and a.endswith(":8123/") for a in view["addresses"])
        assert not any("127.0.0.1" in a or "[::1]" in a for a in view["addresses"])
        student = join(c, "ann")
        assert c.get("/api/class", headers=student).json()["addresses"] is None


def test_students_delete_only_their_own_uploads(classroom: TestClient, tmp_path: Path) -> None:
    """QA #1: an uploaded model has an owner like a run: another student's or the teacher's
    upload is a 403 naming the owner (the runs' wording) and stays; the owner and the teacher may
    delete; an upload from before owners were recorded is the teacher's to delete only."""
    c, teacher = classroom, bearer(TEACHER)
    ann, bob = join(c, "ann"), join(c, "bob")
    data = (REPO / "models" / "mlp.npz").read_bytes()

    def upload(headers: dict[str, str], name: str) -> str:
        r = c.post("/api/models", files={"file": (name, data, "application/octet-stream")}, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    theirs, anns = upload(teacher, "teachers.npz"), upload(ann, "anns.npz")
    for model, owner in ((theirs, "teacher"), (anns, "ann")):
        r = c.delete(f"/api/models/{model}", headers=bob)
        assert r.status_code == 403, r.text
        assert r.json()["detail"] == (
            f"cannot delete model {model}: it belongs to {owner}; only its owner or the teacher may change it"
        )
    listed = {m["id"] for m in c.get("/api/models", headers=bob).json()["models"]}
    assert {theirs, anns} <= listed
    assert c.post(f"/api/predict?model={anns}", json={"pixels": [0.5] * 784}, headers=ann).status_code == 200
    assert c.delete(f"/api/models/{anns}", headers=ann).status_code == 204
    assert c.delete(f"/api/models/{theirs}", headers=ann).status_code == 403
    assert c.delete(f"/api/models/{theirs}", headers=teacher).status_code == 204
    bobs = upload(bob, "bobs.npz")
    assert c.delete(f"/api/models/{bobs}", headers=teacher).status_code == 204  # the teacher: anyone's
    # A file in uploads/ with no recorded owner (stored before owners were): teacher only.
    old = tmp_path / "runs" / "uploads" / "old-model-0000abcd.npz"
    old.write_bytes(data)
    r = c.delete("/api/models/uploads:old-model-0000abcd", headers=ann)
    assert r.status_code == 403 and "it belongs to nobody" in r.json()["detail"]
    assert c.delete("/api/models/uploads:old-model-0000abcd", headers=teacher).status_code == 204
    assert c.delete(f"/api/models/{anns}", headers=ann).status_code == 404  # gone: 404, not 403


def test_a_loopback_user_without_a_token_deletes_any_upload(client: TestClient) -> None:
    """Without a token (one person at a machine) everyone is the teacher: uploads recorded under
    a browser's name can be deleted from another browser, as runs can."""
    data = (REPO / "models" / "mlp.npz").read_bytes()
    files = {"file": ("m.npz", data, "application/octet-stream")}
    model = client.post("/api/models", files=files, headers={"x-glassnet-owner": "ann"}).json()["id"]
    assert client.delete(f"/api/models/{model}", headers={"x-glassnet-owner": "bob"}).status_code == 204


def test_names_in_any_script_join_and_compare_without_case(classroom: TestClient) -> None:
    """Student names (qa-ui2 #3, #11): letters and digits of any script with spaces and . _ @ -,
    1-40 characters once trimmed; "ANN" is ann's name (taken), whatever its case or width."""
    c, teacher = classroom, bearer(TEACHER)
    for name in ("张伟", "José", "Zoë Ng", "मोहन", "ann"):
        me = c.get("/api/me", headers=join(c, f"  {name} ")).json()
        assert me == {"owner": name, "role": "student"}, name
    # One spelling: "José" typed with a combining accent is the José who joined (NFC).
    decomposed = c.post("/api/join", json={"code": CODE, "name": "Jose\u0301"})
    assert decomposed.status_code == 409 and "taken" in decomposed.json()["detail"]
    for same in ("ANN", "Ann", " aNn ", "ＡＮＮ", "JOSÉ", "zoë ng"):
        r = c.post("/api/join", json={"code": CODE, "name": same})
        assert r.status_code == 409 and "taken" in r.json()["detail"], same
    roster = c.get("/api/class", headers=teacher).json()["students"]
    assert roster == ["张伟", "José", "Zoë Ng", "मोहन", "ann"]
    # The teacher asking for "ANN" gets ann's own token, not a second student.
    handed = c.post("/api/class/students", json={"names": ["ANN"]}, headers=teacher).json()
    assert handed[0]["name"] == "ann"
    assert c.get("/api/me", headers=bearer(handed[0]["token"])).json()["owner"] == "ann"

    forty = "a" * 40
    assert c.post("/api/join", json={"code": CODE, "name": f"   {forty}   "}).status_code == 200
    bad_names = (
        "a" * 41,
        "张" * 41,
        "",
        "   ",
        "ann\u0000x",
        "a\nb",
        "a\u200bb",
        "-ann",
        ".x",
        "a/b",
        "a<b>",
    )
    for bad in (*bad_names, "☺", "TEACHER", "Local"):
        r = c.post("/api/join", json={"code": CODE, "name": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["code"] == "invalid"
        if bad.strip() and len(bad) <= 40:
            assert "letters or digits (in any script" in r.json()["detail"], bad


def test_existing_ascii_tokens_keep_working() -> None:
    """The token is an HMAC of the normal name; ASCII names are their own normal form, so a token
    signed before names could be in any script is the same token (and still names its student)."""
    import base64
    import hashlib
    import hmac

    from glassnet.service.owners import student_of, student_token

    def signed(name: str) -> str:  # the token as it was made before this rule
        encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
        mac = hmac.new(TEACHER.encode(), f"glassnet-student:{name}".encode(), hashlib.sha256)
        return f"st.{encoded}.{mac.hexdigest()[:32]}"

    for name in ("ann", "Bob Smith", "a.b_c@d-e", "x" * 40):
        old = signed(name)
        assert student_token(TEACHER, name) == old
        assert student_of(TEACHER, old) == name
    # A token of a name typed in another form is the normal name's token.
    assert student_token(TEACHER, "Jose\u0301 ") == student_token(TEACHER, "José")
    assert student_of(TEACHER, student_token(TEACHER, "张伟")) == "张伟"
    # A forged token whose name is not normal (or not usable) names nobody.
    for name in ("Jose\u0301", "a\u0000b", "a" * 41):
        assert student_of(TEACHER, signed(name)) is None

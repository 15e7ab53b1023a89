"""Users, settings and user data (spec §1.19-1.21, checklist 145-160)."""
import requests


def test_users_single(server):                                         # 145
    j = requests.get(server + "/users").json()
    assert j["storage"] == "server" and isinstance(j["migrated"], bool)


def test_settings(server):                                             # 146, 147
    assert requests.post(server + "/settings", json={"a": 1}).status_code == 200
    assert requests.post(server + "/settings", json={"b": 2}).status_code == 200
    s = requests.get(server + "/settings").json()
    assert s["a"] == 1 and s["b"] == 2
    assert requests.post(server + "/settings/x", data='"y"').status_code == 200
    assert requests.get(server + "/settings/x").json() == "y"
    assert requests.get(server + "/settings/unset.id").content == b"null"
    assert requests.get(server + "/api/settings/Comfy.ColorPalette").content == b"null"


def test_userdata_files(server):                                       # 148-153, 156-159
    U = server + "/userdata/"
    r = requests.post(U + "workflows%2Ft.json", data=b'{"w": 1}')
    assert r.status_code == 200 and r.content == b'"workflows/t.json"'
    r = requests.get(U + "workflows%2Ft.json")
    assert r.status_code == 200 and r.content == b'{"w": 1}'
    assert requests.post(U + "workflows%2Ft.json?overwrite=false", data=b"x").status_code == 409
    r = requests.post(U + "t.json?full_info=true", data=b"abc")
    j = r.json()
    assert list(j.keys()) == ["path", "size", "modified", "created"]
    assert j["path"] == "t.json" and j["size"] == 3 and isinstance(j["modified"], float)
    assert requests.get(server + "/userdata?dir=workflows").json() == ["t.json"]
    fi = requests.get(server + "/userdata?dir=workflows&full_info=true").json()
    assert fi[0]["path"] == "t.json" and set(fi[0]) == {"path", "size", "modified", "created"}
    r = requests.get(server + "/userdata?dir=")
    assert r.status_code == 400 and r.text == "Directory not provided"
    assert requests.get(server + "/userdata?dir=nope").status_code == 404
    assert requests.get(server + "/userdata?dir=..%2F..").status_code == 403
    requests.post(U + "workflows%2Fsub%2Fn.json", data=b"1")
    r = requests.get(server + "/userdata?dir=workflows&recurse=true&split=true").json()
    assert ["sub/n.json", "sub", "n.json"] in r
    requests.post(U + "a.json", data=b"1")
    r = requests.post(U + "a.json/move/b.json")
    assert r.status_code == 200 and r.content == b'"b.json"'
    assert requests.get(U + "a.json").status_code == 404
    requests.post(U + "c.json", data=b"1")
    assert requests.post(U + "c.json/move/b.json?overwrite=false").status_code == 409
    assert requests.delete(U + "b.json").status_code == 204
    assert requests.delete(U + "b.json").status_code == 404
    r = requests.get(U + "..%2F..%2Fetc%2Fpasswd")
    # libwebsockets collapses the decoded ".." before routing, so the
    # request may not reach /userdata at all; either way no file leaks.
    assert r.status_code in (403, 404) and b"root:" not in r.content
    assert requests.post(U + "..%2Fescape.json", data=b"x").status_code in (403, 404, 405)
    assert not (server.user / "escape.json").exists()


def test_userdata_v2(make_server):                                      # 154, 155
    s = make_server()
    assert requests.get(s + "/v2/userdata").json() == []
    U = s + "/userdata/"
    requests.post(U + "b.json", data=b"12")
    requests.post(U + "A.json", data=b"1")
    requests.post(U + "dir%2Fx.json", data=b"1")
    lst = requests.get(s + "/v2/userdata").json()
    assert [e["type"] for e in lst][0] == "directory"
    assert lst[0] == {"name": "dir", "path": "dir", "type": "directory"}
    files = [e for e in lst if e["type"] == "file"]
    assert [e["name"] for e in files] == ["A.json", "b.json", "x.json"]
    assert next(e for e in files if e["name"] == "x.json")["path"] == "dir/x.json"
    assert files[1]["size"] == 2
    assert requests.get(s + "/v2/userdata?path=missing").status_code == 404
    assert requests.get(s + "/v2/userdata?path=b.json").status_code == 400


def test_users_post(server):                                            # 160
    r = requests.post(server + "/users", json={"username": "x"})
    assert r.status_code == 200 and r.json().startswith("x_")
    r = requests.post(server + "/users", json={"username": "x"})
    assert r.status_code == 400 and r.json() == {"error": "Duplicate username."}
    assert requests.post(server + "/users", json={}).status_code == 500


def test_multi_user(make_server):
    s = make_server("--multi-user")
    uid = requests.post(s + "/users", json={"username": "Alice Smith"}).json()
    assert uid.startswith("Alice-Smith_")
    assert requests.get(s + "/users").json()["users"] == {uid: "Alice Smith"}
    assert requests.get(s + "/settings", headers={"Comfy-User": "nobody"}).status_code == 401
    assert requests.get(s + "/v2/userdata", headers={"Comfy-User": "nobody"}).status_code == 403
    h = {"Comfy-User": uid}
    assert requests.post(s + "/settings/k", data="1", headers=h).status_code == 200
    assert requests.get(s + "/settings/k", headers=h).json() == 1
    assert (s.user / uid / "comfy.settings.json").exists()


def test_encoded_escapes(server):
    # double-encoded: lws decodes once, the handler once more (spec §0.6)
    r = requests.get(server + "/userdata/%252e%252e%252f%252e%252e%252fetc%252fpasswd")
    assert r.status_code == 403 and b"root:" not in r.content
    r = requests.post(server + "/userdata/%252e%252e%252fx.json", data=b"x")
    assert r.status_code == 403
    assert not (server.user / "x.json").exists()
    r = requests.get(server + "/userdata?dir=%252e%252e")
    assert r.status_code == 403
    r = requests.get(server + "/v2/userdata?path=%252e%252e")
    assert r.status_code == 400
    # absolute and encoded names on /view and uploads
    assert requests.get(server + "/view?filename=%2e%2e%2fx.png").status_code == 400
    assert requests.get(server + "/view?filename=x.png&subfolder=%2Fetc").status_code == 403
    r = requests.post(server + "/upload/image",
                      files={"image": ("../../evil.png", b"x", "image/png")})
    assert r.status_code == 400
    assert not (server.base / "evil.png").exists()

"""Frontend static files (spec §1.2, checklist 20-22) with --front-end-root."""
import requests


def test_front_end_root(make_server, tmp_path):
    root = tmp_path / "web"
    (root / "assets").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "index.html").write_text("<html>frontend</html>")
    (root / "assets" / "app.js").write_text("console.log(1)")
    (root / "assets" / "logo.png").write_bytes(b"\x89PNG....")
    (root / "templates" / "index.json").write_text("[]")
    s = make_server("--front-end-root", str(root))
    r = requests.get(s + "/")
    assert r.status_code == 200 and r.text == "<html>frontend</html>"
    assert requests.get(s + "/api/").content == r.content
    r = requests.get(s + "/assets/app.js")                       # 20
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["Content-Type"].startswith("application/javascript")
    r = requests.get(s + "/assets/logo.png")                     # 21
    assert r.headers["Cache-Control"] == "public, max-age=86400"
    r = requests.get(s + "/templates/index.json")                # 22
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["Content-Type"].startswith("application/json")
    assert requests.get(s + "/assets").status_code == 403        # directory
    assert requests.get(s + "/missing.js").status_code == 404
    assert requests.get(s + "/../etc/passwd").status_code == 404
    import gzip
    (root / "assets" / "big.js").write_text("x" * 1000)
    (root / "assets" / "big.js.gz").write_bytes(gzip.compress(b"y" * 1000))
    r = requests.get(s + "/assets/big.js", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and r.text == "y" * 1000
    assert r.headers["Content-Type"].startswith("application/javascript")
    r = requests.get(s + "/assets/big.js", headers={"Accept-Encoding": "identity"})
    assert r.text == "x" * 1000 and "Content-Encoding" not in r.headers

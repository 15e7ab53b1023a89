"""POST /prompt and validation (spec §1.13, §4, checklist 47-74)."""
import re

import requests

from conftest import minimal_prompt, queue, run


def test_minimal_valid(server):                                   # 47, 48
    a = queue(server, minimal_prompt("pv"))
    b = queue(server, minimal_prompt("pv"))
    assert a.status_code == 200 and b.status_code == 200
    ja, jb = a.json(), b.json()
    assert list(ja.keys()) == ["prompt_id", "number", "node_errors"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        ja["prompt_id"])
    assert ja["node_errors"] == {}
    assert isinstance(ja["number"], int) and jb["number"] == ja["number"] + 1


def test_number_float_and_front(server):                           # 49, 50
    r = queue(server, minimal_prompt("pn"), number=5)
    assert r.status_code == 200 and b'"number": 5.0' in r.content
    r = queue(server, minimal_prompt("pf"), front=True)
    assert r.json()["number"] <= 0


def test_prompt_id_override(server, ws_client):                    # 51
    c = ws_client()
    pid, _ = run(server, c, minimal_prompt("po", color=3), prompt_id="my-id")
    assert pid == "my-id"
    assert "my-id" in requests.get(server + "/history/my-id").json()


def test_no_prompt(server):                                        # 52
    r = requests.post(server + "/prompt", json={"client_id": "x"})
    assert r.status_code == 400
    assert r.content == (b'{"error": {"type": "no_prompt", "message": "No prompt provided", '
                         b'"details": "No prompt provided", "extra_info": {}}, "node_errors": {}}')


def test_counter_advances_on_failure(server):                      # 53
    a = queue(server, minimal_prompt("pc")).json()["number"]
    assert queue(server, {"1": {"inputs": {}}}).status_code == 400
    b = queue(server, minimal_prompt("pc")).json()["number"]
    assert b == a + 2


def test_invalid_prompts(server):                                   # 54-59
    p = minimal_prompt()
    p["7"] = {"class_type": "Foo", "inputs": {}}
    r = queue(server, p)
    assert r.status_code == 400
    e = r.json()["error"]
    assert e["type"] == "invalid_prompt"
    assert e["message"] == "Cannot execute because node Foo does not exist."
    assert e["details"] == "Node ID '#7'"
    r = queue(server, {"1": {"inputs": {}}})
    assert r.json()["error"]["message"] == \
        "Cannot execute because a node is missing the class_type property."
    r = queue(server, {"1": minimal_prompt()["1"]})
    assert r.status_code == 400
    assert r.json()["error"] == {"type": "prompt_no_outputs", "message": "Prompt has no outputs",
                                 "details": "", "extra_info": {}}
    assert queue(server, minimal_prompt(), partial_execution_targets=[]).json()["error"]["type"] \
        == "prompt_no_outputs"
    assert queue(server, minimal_prompt(), partial_execution_targets=["1"]).json()["error"]["type"] \
        == "prompt_no_outputs"


def node_error(server, p, node="1"):
    r = queue(server, p)
    assert r.status_code == 400, r.text
    j = r.json()
    assert j["error"]["type"] == "prompt_outputs_failed_validation"
    return j["node_errors"][node]


def test_input_errors(server):                                      # 60-64
    p = minimal_prompt()
    del p["1"]["inputs"]["width"]
    ne = node_error(server, p)
    assert list(ne.keys()) == ["errors", "dependent_outputs", "class_type"]
    assert "2" in ne["dependent_outputs"]
    assert ne["errors"][0] == {"type": "required_input_missing",
                               "message": "Required input is missing", "details": "width",
                               "extra_info": {"input_name": "width"}}
    p = minimal_prompt()
    p["1"]["inputs"]["width"] = 0
    e = node_error(server, p)["errors"][0]
    assert e["type"] == "value_smaller_than_min" and e["message"] == "Value 0 smaller than min of 1"
    assert e["extra_info"]["received_value"] == 0
    p["1"]["inputs"]["width"] = 20000
    e = node_error(server, p)["errors"][0]
    assert e["message"] == "Value 20000 bigger than max of 16384"
    p["1"]["inputs"]["width"] = "abc"
    e = node_error(server, p)["errors"][0]
    assert e["type"] == "invalid_input_type"
    assert e["message"] == "Failed to convert an input value to a INT value"


def test_link_errors(server):                                       # 66-68
    p = minimal_prompt()
    p["2"]["inputs"]["images"] = ["1", 0, 1]
    assert node_error(server, p, "2")["errors"][0]["type"] == "bad_linked_input"
    p = minimal_prompt()
    p["3"] = {"class_type": "InvertMask", "inputs": {"mask": ["1", 0]}}
    p["4"] = {"class_type": "MaskToImage", "inputs": {"mask": ["3", 0]}}
    p["5"] = {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "x"}}
    r = queue(server, p)
    assert r.status_code == 200                                     # 69: one output passes
    ne = r.json()["node_errors"]["3"]["errors"][0]
    assert ne["type"] == "return_type_mismatch"
    assert ne["details"] == "mask, received_type(IMAGE) mismatch input_type(MASK)"
    p = minimal_prompt()
    p["2"]["inputs"]["images"] = ["99", 0]
    r = queue(server, p)
    assert r.status_code == 400
    assert "exception_during" in r.text


def test_conversions_stored(server):                                 # 70-72
    p = minimal_prompt("conv")
    p["1"]["inputs"]["width"] = "8"
    p["1"]["inputs"]["height"] = {"__value__": 8}
    p["3"] = {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1,
                                                    "sigma": 1}}
    p["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "c"}}
    r = queue(server, p, number=1000)
    assert r.status_code == 200, r.text
    pid = r.json()["prompt_id"]
    q = requests.get(server + "/queue").json()
    items = [i for i in q["queue_pending"] + q["queue_running"] if i[1] == pid]
    if not items:
        items = [requests.get(server + f"/history/{pid}").json()[pid]["prompt"]]
    stored = items[0][2]
    assert stored["1"]["inputs"]["width"] == 8 and isinstance(stored["1"]["inputs"]["width"], int)
    assert stored["1"]["inputs"]["height"] == 8
    assert isinstance(stored["3"]["inputs"]["sigma"], float)


def test_combo_not_in_list(server):                                  # 65
    p = minimal_prompt()
    p["3"] = {"class_type": "ImageScale", "inputs": {"image": ["1", 0],
              "upscale_method": "bogus", "width": 8, "height": 8, "crop": "disabled"}}
    p["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}}
    r = queue(server, p)
    e = r.json()["node_errors"]["3"]["errors"][0]
    assert e["type"] == "value_not_in_list"
    assert e["details"].startswith("upscale_method: 'bogus' not in [")
    assert e["extra_info"]["input_config"] is not None


def test_load_image_validation(server):                              # 73, 74
    from pngutil import solid_png
    p = {"1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}},
         "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "l"}}}
    e = node_error(server, p)["errors"][0]
    assert e["type"] == "custom_validation_failed"
    assert e["details"] == "image - Invalid image file: missing.png"
    (server.output / "x.png").write_bytes(solid_png())
    p["1"]["inputs"]["image"] = "x.png [output]"
    assert queue(server, p).status_code == 200

"""The HTTP API: every error path answers with its own status and a readable message; results are the CLI's."""

import io
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from hrinpaint.cli import main
from hrinpaint.server import ServerSettings, create_app
from hrinpaint.server.schemas import build_catalogue
from hrinpaint.server.work import download_stem

WIDTH, HEIGHT = 64, 48


def encode(pixels: np.ndarray, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def photo(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def hole(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[10:22, 12:40] = 255
    return mask


def form(image: bytes, mask: bytes, method: str | None = "telea+cra", options: dict | str | None = None):
    files = {"image": ("holiday photo.png", image, "image/png"), "mask": ("mask.png", mask, "image/png")}
    data = {}
    if method is not None:
        data["method"] = method
    if options is not None:
        data["options"] = options if isinstance(options, str) else json.dumps(options)
    return {"files": files, "data": data}


@pytest.fixture(scope="module")
def catalogue():
    return build_catalogue()


@pytest.fixture(scope="module")
def client(catalogue, tmp_path_factory):
    temp = tmp_path_factory.mktemp("server-temp")
    with TestClient(create_app(ServerSettings(temp_dir=str(temp)), catalogue)) as test_client:
        test_client.temp = temp
        yield test_client


def make_client(catalogue, **settings) -> TestClient:
    return TestClient(create_app(ServerSettings(**settings), catalogue))


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail, detail


# -------------------------------------------------------------------------------------------------- success


def test_health(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["queue"] == {"running": False, "waiting": 0, "capacity": 4}


def test_methods_lists_default_options_and_no_server_paths(client):
    from hrinpaint.methods import DEFAULT_METHOD

    body = client.get("/api/methods").json()
    names = [method["name"] for method in body["methods"]]
    assert body["default"] == DEFAULT_METHOD and "telea+cra" in names
    assert body["fillers"]["telea"]["options"]["properties"]["radius"]["default"] == 5.0
    assert "description" in body["lifters"]["cra"]["options"]["properties"]["top_k"]
    for group in ("fillers", "lifters"):
        for part in body[group].values():
            assert part["options"] is None or "weights" not in part["options"]["properties"]
    assert body["limits"]["max_pixels"] == ServerSettings().max_pixels
    if "hifill" in body["fillers"]:  # listed even while its weights are missing
        assert "hifill+cra" in names


def test_inpaint_changes_only_the_hole_and_keeps_the_format(client):
    pixels, mask = photo(), hole()
    response = client.post("/api/inpaint", **form(encode(pixels), encode(mask)))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'attachment; filename="holiday_photo_filled.png"'
    assert response.headers["x-hrinpaint-method"] == "telea+cra"
    assert response.headers["x-hrinpaint-filled-pixels"] == str(int((mask > 0).sum()))
    result = np.array(Image.open(io.BytesIO(response.content)))
    changed = (result != pixels).any(axis=2)
    assert changed.any() and not changed[mask == 0].any()


def test_jpeg_comes_back_as_jpeg_at_the_asked_quality(client):
    pixels = photo()
    response = client.post(
        "/api/inpaint", **form(encode(pixels, "JPEG", quality=90), encode(hole()), options={"quality": 80})
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    result = Image.open(io.BytesIO(response.content))
    assert result.format == "JPEG" and result.size == (WIDTH, HEIGHT)


def test_empty_mask_returns_the_upload_byte_for_byte(client):
    original = encode(photo())
    response = client.post("/api/inpaint", **form(original, encode(np.zeros((HEIGHT, WIDTH), np.uint8))))
    assert response.status_code == 200 and response.content == original
    assert response.headers["x-hrinpaint-filled-pixels"] == "0"


def test_pipeline_and_part_options_are_applied(client):
    options = {"working_size": 16, "grow": 2, "filler": {"radius": 3}, "lifter": {"interpolation": "bilinear"}}
    response = client.post("/api/inpaint", **form(encode(photo()), encode(hole()), "telea+upsample", options))
    assert response.status_code == 200, response.text
    grown = int(response.headers["x-hrinpaint-filled-pixels"])
    assert grown == int((hole() > 0).sum())  # grow widens what may change, not the count of painted pixels


def test_job_api_reports_progress_and_returns_the_result_once(client):
    created = client.post("/api/jobs", **form(encode(photo()), encode(hole())))
    assert created.status_code == 202, created.text
    job = created.json()
    deadline = time.monotonic() + 20
    while (status := client.get(job["status_url"]).json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status["state"] == "done" and status["done"] == status["total"] == 1
    assert client.get(job["result_url"]).headers["content-type"] == "image/png"
    assert_error(client.get(job["result_url"]), 404, "no job")
    assert_error(client.get("/api/jobs/not-a-job"), 404, "no job")


def test_temporary_files_are_removed(client):
    client.post("/api/inpaint", **form(encode(photo()), encode(hole())))
    client.post("/api/inpaint", **form(b"not an image", encode(hole())))
    assert list(client.temp.iterdir()) == []


def test_openapi_has_the_per_method_option_schemas(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"InpaintOptions", "TeleaFillerOptions", "CraLifterOptions"} <= set(schemas)
    assert schemas["InpaintOptions"]["properties"]["working_size"]["maximum"] == 4096
    assert client.get("/docs").status_code == 200


def test_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "hrinpaint" in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_download_name_is_never_a_path():
    assert download_stem("../../etc/passwd.png") == "passwd"
    assert download_stem("C:\\Users\\me\\photo 1.jpg") == "photo_1"
    assert download_stem(None) == "image" and download_stem("....") == "image"


# -------------------------------------------------------------------------------------------------- errors


def test_not_an_image(client):
    assert_error(client.post("/api/inpaint", **form(b"hello", encode(hole()))), 415, "image is not an image")
    assert_error(client.post("/api/inpaint", **form(encode(photo()), b"")), 415, "mask is empty")
    assert_error(client.post("/api/inpaint", **form(b"\x89PNG\r\n\x1a\n broken", encode(hole()))), 415)


def test_mask_of_another_size(client):
    response = client.post("/api/inpaint", **form(encode(photo()), encode(hole(WIDTH + 1, HEIGHT))))
    assert_error(response, 422, "mask is 65x48", "image is 64x48")


def test_mask_covering_everything(client):
    full = np.full((HEIGHT, WIDTH), 255, np.uint8)
    assert_error(client.post("/api/inpaint", **form(encode(photo()), encode(full))), 422, "covers the whole image")


def test_unknown_method(client):
    assert_error(client.post("/api/inpaint", **form(encode(photo()), encode(hole()), "nope+cra")), 422, "unknown")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ("{not json", ("JSON",)),
        ("[1, 2]", ("JSON object",)),
        ({"colour": 1}, ("colour", "not an option")),
        ({"working_size": 100000}, ("working_size", "4096")),
        ({"filler": {"radius": -1}}, ("radius must be positive",)),
        ({"filler": {"radius": "big"}}, ("radius",)),
        ({"lifter": {"cells": 0}}, ("cells",)),
        ({"filler": {"patch_size": 7}}, ("patch_size", "not an option")),
    ],
)
def test_bad_options(client, options, words):
    assert_error(client.post("/api/inpaint", **form(encode(photo()), encode(hole()), options=options)), 422, *words)


def test_no_client_supplied_paths(client, catalogue):
    for name, part in catalogue.fillers.items():
        if part.model is not None and "weights" in (part.config_class.__dataclass_fields__):
            options = {"filler": {"weights": "/etc/passwd"}}
            response = client.post("/api/inpaint", **form(encode(photo()), encode(hole()), f"{name}+cra", options))
            assert_error(response, 422, "weights", "not an option")


def test_network_filler_without_weights_is_a_clear_error(client, catalogue):
    # lama's weights never ship (they cannot be downloaded here): it is listed, unavailable, and refused clearly.
    part = catalogue.fillers["lama"]
    assert not part.available
    response = client.post("/api/inpaint", **form(encode(photo()), encode(hole()), "lama+cra"))
    assert_error(response, 422, "lama+cra cannot run", "weights")


def test_oversized_upload(catalogue):
    with make_client(catalogue, max_upload_bytes=1024) as small:
        big = encode(photo(400, 300))
        assert_error(small.post("/api/inpaint", **form(big, encode(hole(400, 300)))), 413, "over the server's limit")


def test_too_many_pixels(catalogue):
    with make_client(catalogue, max_pixels=WIDTH * HEIGHT - 1) as small:
        assert_error(small.post("/api/inpaint", **form(encode(photo()), encode(hole()))), 413, "pixels", "limit")


def test_chunked_upload_without_length_is_refused(client):
    response = client.post("/api/inpaint", content=iter([b"--x\r\n"]), headers={"Content-Type": "multipart/form-data"})
    assert_error(response, 411, "Content-Length")


def test_missing_fields(client):
    response = client.post("/api/inpaint", files={"image": ("a.png", encode(photo()), "image/png")})
    assert response.status_code == 422 and "mask" in response.text


def test_busy_queue_answers_503_with_retry_after(catalogue):
    gate = threading.Event()
    with make_client(catalogue, queue_size=1) as busy:
        jobs = busy.app.state.jobs
        jobs.submit(lambda job: gate.wait(10))  # runs
        queued = busy.post("/api/jobs", **form(encode(photo()), encode(hole())))  # waits
        try:
            assert queued.status_code == 202
            job = queued.json()
            status = busy.get(job["status_url"]).json()
            assert status["state"] == "queued" and status["position"] == 1
            assert_error(busy.get(job["result_url"]), 409, "queued")
            response = busy.post("/api/inpaint", **form(encode(photo()), encode(hole())))
            assert_error(response, 503, "busy")
            assert int(response.headers["retry-after"]) >= 1
        finally:
            gate.set()
        deadline = time.monotonic() + 20
        while busy.get(job["status_url"]).json()["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert busy.get(job["result_url"]).status_code == 200


def test_a_failing_job_does_not_stop_the_worker(catalogue):
    with make_client(catalogue) as fresh:
        jobs = fresh.app.state.jobs
        broken = jobs.submit(lambda job: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            broken.future.result(timeout=10)
        status = fresh.get(f"/api/jobs/{broken.id}").json()
        assert status["state"] == "failed" and status["error_status"] == 500
        assert fresh.post("/api/inpaint", **form(encode(photo()), encode(hole()))).status_code == 200


def test_serve_command_is_lazy_and_checks_its_limits(capsys):
    code = "import sys, hrinpaint.cli as cli; cli.build_parser(); print('fastapi' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    assert main(["serve", "--queue-size", "-1"]) == 1
    assert "queue_size must be >= 0" in capsys.readouterr().err


def test_loopback_server_refuses_other_host_names(catalogue):
    with make_client(catalogue, allowed_hosts=("127.0.0.1", "localhost")) as guarded:
        assert guarded.get("http://127.0.0.1:8080/api/health").status_code == 200
        assert guarded.get("http://rebound.example/api/health").status_code == 400

from tests.conftest import make_event


def test_annot(api):
    uc = api.use_case()
    src = api.upload()
    api.post(
        "/vision-events",
        make_event(
            "e1",
            uc,
            images=[
                {
                    "sourceId": src,
                    "objectDetections": [
                        {"class": "a", "x": 10, "y": 10, "width": 5, "height": 5, "confidence": 0.5}
                    ],
                }
            ],
        ),
    )
    r = api.get("/vision-events/events/e1/images/0/annotated")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert api.get("/vision-events/events/e1/images/3/annotated").status_code == 404

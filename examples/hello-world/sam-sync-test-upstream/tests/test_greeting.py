from sam_sync_test_upstream import greeting


def test_greeting():
    assert greeting("world").startswith("hello world")

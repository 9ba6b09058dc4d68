"""The one error the test bed raises, so a failure reads as a fix-it note."""


class TestbedError(RuntimeError):
    """A real part of the test bed is missing or would not start.

    The message always names what is missing and the command or setting that
    provides it; tests never see a bare traceback from a subprocess.
    """

    __test__ = False  # not a test class, despite the name

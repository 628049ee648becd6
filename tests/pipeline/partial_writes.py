"""Serialisers that write the first half of the real bytes where they were told to, then fail
(raise, or kill the process): for the atomic-write tests, in this process and in a killed one."""

import io
import os
import signal

import numpy as np


class SerialiserFailed(OSError):
    pass


def fail() -> None:
    raise SerialiserFailed("no space left on device")


def kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def half_savez(then):
    real = np.savez

    def savez(stream, **arrays):
        whole = io.BytesIO()
        real(whole, **arrays)
        stream.write(whole.getvalue()[: len(whole.getvalue()) // 2])
        stream.flush()
        then()

    return savez


def half_torch_save(then):
    import torch

    real = torch.save

    def save(obj, destination):
        whole = io.BytesIO()
        real(obj, whole)
        with open(destination, "wb") as stream:
            stream.write(whole.getvalue()[: len(whole.getvalue()) // 2])
        then()

    return save


def half_write_text(then):
    def write_text(self, text, encoding=None, errors=None, newline=None):
        with open(self, "w", encoding=encoding) as stream:
            stream.write(text[: len(text) // 2])
        then()

    return write_text

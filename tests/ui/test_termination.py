"""SIGTERM gives the interrupt path and exit 143 even where a library re-raises the interrupt
as its own KeyboardInterrupt (Ray's ray.wait and ray.get do: the `Terminated` type is lost)."""

from __future__ import annotations

import os
import signal

import pytest
import typer

from nasforge.ui.termination import interrupt_exit_code, sigterm_as_interrupt


def like_ray_wait() -> None:
    """Waits in "C code" that checks for signals and raises a KeyboardInterrupt of its own."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0)  # let the handler run here, as PyErr_CheckSignals would
    except KeyboardInterrupt:
        raise KeyboardInterrupt from None


@pytest.mark.parametrize("seen_as", ["Terminated", "a plain KeyboardInterrupt"])
def test_sigterm_exits_143_whatever_the_interrupt_is_raised_as(seen_as: str) -> None:
    before = signal.getsignal(signal.SIGTERM)
    codes: list[int] = []

    @sigterm_as_interrupt()
    def search() -> None:
        try:
            if seen_as == "Terminated":
                os.kill(os.getpid(), signal.SIGTERM)
                signal.sigtimedwait([], 0)
            else:
                like_ray_wait()
        except KeyboardInterrupt as stop:  # run_search's interrupt path
            codes.append(interrupt_exit_code(stop))
            raise typer.Exit(code=codes[-1]) from None

    with pytest.raises(typer.Exit) as done:
        search()
    assert codes == [143] and done.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before  # restored


def test_ctrl_c_is_still_130_and_an_escaping_converted_sigterm_is_143() -> None:
    @sigterm_as_interrupt()
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as plain:
        interrupted()
    assert interrupt_exit_code(plain.value) == 130

    @sigterm_as_interrupt()
    def escaping() -> None:
        like_ray_wait()  # no interrupt path catches it

    try:
        escaping()
    except typer.Exit as done:
        assert done.exit_code == 143
    except KeyboardInterrupt:  # would end this pytest session: fail instead
        pytest.fail("the converted SIGTERM escaped as a KeyboardInterrupt (exit 130)")
    else:
        pytest.fail("no interrupt")

"""The exercise checks raise a helpful message on a wrong answer and pass on a right one."""
import numpy as np
import pytest
import torch

from medgan_nb.exercises import ExerciseCheckFailed, check_close, check_equal, check_shape, check_true


def test_check_close_passes_on_equal_tensors_and_arrays():
    check_close("Exercise 1", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]))


def test_check_close_message_names_expected_got_and_hint():
    with pytest.raises(ExerciseCheckFailed) as caught:
        check_close("Exercise 2", 0.5, 0.25, what="D*(x) is wrong", hint="D* = p_data / (p_data + p_g)")
    message = str(caught.value)
    assert "Exercise 2: D*(x) is wrong" in message and "0.25" in message and "0.5" in message
    assert "hint: D* = p_data" in message


@pytest.mark.parametrize("got, fragment", [(None, "returned None"), (np.array([np.nan]), "NaN"),
                                           (np.zeros(3), "shape is wrong")])
def test_check_close_catches_none_nan_and_shape(got, fragment):
    with pytest.raises(ExerciseCheckFailed, match=fragment):
        check_close("Exercise 3", got, np.zeros(1))


def test_check_equal_shape_and_true():
    check_equal("Ex", "wgan-gp", "wgan-gp")
    with pytest.raises(ExerciseCheckFailed, match="expected: 3"):
        check_equal("Ex", 2, 3)
    with pytest.raises(ExerciseCheckFailed, match=r"\(2, 3\)"):
        check_shape("Ex", torch.zeros(3, 2), (2, 3))
    with pytest.raises(ExerciseCheckFailed, match="must rise"):
        check_true("Ex", False, what="the curve must rise")


def test_attempt_returns_the_answer_and_turns_a_stub_into_a_helpful_failure():
    from medgan_nb.exercises import attempt

    assert attempt("Ex", lambda a, b: a + b, 2, 3) == 5

    def discriminator_optimum(p_data, p_model):
        raise NotImplementedError()

    with pytest.raises(ExerciseCheckFailed, match="Ex 4: not answered yet: `discriminator_optimum` still raises"):
        attempt("Ex 4", discriminator_optimum, 0.5, 0.5)

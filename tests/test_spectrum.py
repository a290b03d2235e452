"""The azimuthally averaged power spectrum: flat for white noise, a peak at Nyquist for pixel patterns, clear errors."""
from __future__ import annotations

import math

import pytest
import torch

from medgan_nb.metrics.spectrum import high_frequency_error, radial_power_spectrum, to_grey

SIZE = 32


def test_white_noise_has_a_flat_spectrum_at_its_variance():
    noise = 0.5 * torch.randn(64, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))  # variance 0.25
    frequencies, power = radial_power_spectrum(noise)
    assert frequencies[0] == 0 and power[0] < 1e-6  # each image's mean is removed: no power at f = 0
    rings = power[1:]
    # E|x_hat|^2 / S^2 = sigma^2 at every frequency of white noise; ~500 samples per ring keep the means within 20 %
    assert torch.all((rings > 0.8 * 0.25) & (rings < 1.2 * 0.25)), rings
    low, high = rings[: len(rings) // 2].mean(), rings[len(rings) // 2:].mean()
    assert abs(float(high / low) - 1) < 0.1, (low, high)


def test_smooth_images_put_less_power_at_high_frequencies_than_noise():
    noise = torch.randn(16, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    smooth = torch.nn.functional.avg_pool2d(noise, 4, stride=1, padding=2, count_include_pad=False)[..., :SIZE, :SIZE]
    _, power = radial_power_spectrum(smooth)
    assert power[-1] < 0.05 * power[1], power  # a box blur suppresses the highest frequencies


def test_a_one_pixel_checkerboard_puts_its_power_at_the_diagonal_nyquist_frequency():
    rows, columns = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    checkerboard = ((rows + columns) % 2 * 2 - 1).float().expand(3, SIZE, SIZE)  # (-1)^(i + j)
    frequencies, power = radial_power_spectrum(checkerboard)
    peak = int(power.argmax())
    assert peak == len(power) - 1  # the last ring: the corner of the spectrum
    assert math.isclose(float(frequencies[peak]), 0.5 * math.sqrt(2), abs_tol=1 / SIZE)
    assert float(power[:peak].sum()) < 1e-9 * float(power[peak])  # and nowhere else


def test_stripes_that_alternate_every_pixel_sit_at_the_axis_nyquist_frequency():
    stripes = ((torch.arange(SIZE) % 2) * 2 - 1).float().expand(2, SIZE, SIZE)  # (-1)^j along each row
    frequencies, power = radial_power_spectrum(stripes)
    assert float(frequencies[int(power.argmax())]) == 0.5


def test_colour_images_are_measured_by_their_luminance():
    grey = torch.rand(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2)) * 2 - 1
    colour = grey.expand(4, 3, SIZE, SIZE)  # equal channels: luminance = the grey image (weights sum to 1)
    assert torch.allclose(radial_power_spectrum(colour)[1], radial_power_spectrum(grey)[1], rtol=1e-5, atol=1e-9)
    assert torch.allclose(to_grey(grey), grey[:, 0])


def test_high_frequency_error_is_zero_for_the_same_set_and_two_for_ten_times_the_amplitude():
    images = torch.rand(8, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3)) * 2 - 1
    assert high_frequency_error(images, images) == pytest.approx(0.0, abs=1e-6)
    # 10 x the amplitude is 100 x the power at every frequency: |log10 100| = 2
    assert high_frequency_error(images, 10 * images) == pytest.approx(2.0, abs=1e-4)


@pytest.mark.parametrize("shape", [(4, 2, SIZE, SIZE), (SIZE, SIZE), (1, 1, 1, SIZE, SIZE)])
def test_bad_shapes_name_the_accepted_layouts(shape):
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), \(N, 1, H, W\) or \(N, H, W\), got"):
        radial_power_spectrum(torch.zeros(shape))


def test_non_square_and_empty_sets_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="square images, got 32 x 16; centre-crop"):
        radial_power_spectrum(torch.zeros(2, 3, 32, 16))
    with pytest.raises(ValueError, match="images is empty"):
        radial_power_spectrum(torch.zeros(0, 3, SIZE, SIZE))


def test_high_frequency_error_checks_its_band_and_the_image_sizes():
    images = torch.zeros(2, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match=r"start must be a frequency in \[0, 0.5\).*got 0.6"):
        high_frequency_error(images, images, start=0.6)
    with pytest.raises(ValueError, match="same size to compare their spectra.*resize one set"):
        high_frequency_error(images, torch.zeros(2, 3, 16, 16))

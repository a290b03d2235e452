"""medgan_nb: the helper package behind the medgan-notebooks course.

One module per concern (see the README): ``runtime`` (device, seeding,
profiles), ``data`` (the DermSynth phantom and real-data loaders), ``models``,
``losses``, ``train`` (one engine for every GAN family), ``metrics``, ``viz``,
``widgets`` and ``notebook`` (papermill glue).
"""
__version__ = "0.1.0"

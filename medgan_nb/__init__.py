"""medgan_nb: the helper package behind the medgan-notebooks course.

One module per concern, grouped in rooms whose imports flow one way (ARCHITECTURE.md lists them, what
each may import and where a new family, metric or notebook goes): ``runtime`` (device, seeding,
profiles), ``data`` (the DermSynth phantom and real-data loaders), ``models``, ``losses``, ``train``
(one engine for every GAN family), ``metrics``, ``viz``, ``widgets``, ``experiments`` and ``notebook``
(papermill glue).
"""
__version__ = "0.1.0"

"""Maintainer tooling, not part of what a student calls.

* :mod:`~medgan_nb.tools.runner` -- the papermill runner (``make notebooks``) and its summaries;
* :mod:`~medgan_nb.tools.baselines` -- recording and checking ``tests/baselines/*.json`` (``make baselines``);
* :mod:`~medgan_nb.tools.course` -- the student edition and the exercise convention (``make student``);
* :mod:`~medgan_nb.tools.colab` -- Colab badges, links and install lines (``make colab-links``).
"""

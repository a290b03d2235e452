"""The course's experiments: code a notebook section runs, too long for a notebook cell.

This room sits on top, beside the notebook glue: an experiment trains with the
engine (:mod:`medgan_nb.train`), measures with :mod:`medgan_nb.metrics` and
draws with :mod:`medgan_nb.viz`. One module per notebook topic.
"""

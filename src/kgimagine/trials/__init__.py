"""Understanding a trial: its listed drug and disease names resolved to graph ids.

``trials`` sits under ``reasoning`` and ``evaluation`` and over ``kg``: the graph build
(``loaders.top``), prediction (``reasoning.retrieval``) and ``kgimagine kg add-trials`` all
resolve a trial through ``trials.resolve.TrialResolver``, so a trial stored in the graph and
the same trial described by a user resolve to the same ids.
"""

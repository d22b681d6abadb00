"""The hub package of a trained multi-task model: writing it (``python -m
kdsrl_lobes.package``), its file layout and loading hooks, the model card, the
upload, the ``MultiTaskSpeechModel`` inference interface, and the ONNX export
(``python -m kdsrl_lobes.export``)."""

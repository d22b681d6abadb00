"""``python -m kdsrl_lobes.export`` exports a hub package to ONNX (fp32
and int8): the command's short, stable name for
`kdsrl_lobes.hub.export`, where the code lives."""

from kdsrl_lobes.hub.export import main

if __name__ == "__main__":
    main()
